"""A batch request of a known, small length is read on the event loop before its handler takes a worker thread
(issue 14, the file import): kvcli's own batch requests (~150 KB each) then need no hand-off to the loop per chunk,
and slow uploads of that size hold no thread. A longer or chunked body is still read by the handler as it arrives
(tests/wire/test_server_reads_on_loop.py holds every thread with such uploads).
"""

from __future__ import annotations

import socket

import httpx
import pytest

from kvcli.local.server_app import SMALL_STREAMED_BODY
from tests.served import serving_a_store

WORKER_THREADS = 40  # anyio's default number of worker threads


@pytest.fixture
def served(tmp_path):
    with serving_a_store(tmp_path) as served:
        yield served


def _stalled_small_upload(port: int, sid: str, n: int) -> socket.socket:
    """A batch PUT declaring a 4,000-byte body that sends one record of it and then nothing."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"PUT /resources/stores/kv/{sid}/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-ndjson\r\nContent-Length: 4000\r\n\r\n".encode()
        + b'{"key":"stalled-%d","value":"dg=="}\n' % n
    )
    return s


def test_slow_small_batch_uploads_hold_no_worker_thread(served):
    server, engine, sid = served
    uploads = [_stalled_small_upload(server.port, sid, n) for n in range(WORKER_THREADS + 5)]
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            body = b"".join(b'{"key":"k%03d","value":"dg=="}\n' % i for i in range(100))
            r = client.put(f"/resources/stores/kv/{sid}/batch", content=body,
                           headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 200, r.text
        assert len(engine.list_keys(sid, prefix="k", limit=1000).items) == 100
        assert engine.list_keys(sid, prefix="stalled-").items == []  # nothing of a body that never ended
    finally:
        for s in uploads:
            s.close()


def test_a_small_batch_read_whole_reports_per_line_errors_as_a_streamed_one_does(served):
    server, engine, sid = served
    good = b'{"key":"a","value":"dg=="}\n'
    bad = b'{"key":"b","value":"not base64!"}\n'
    padding = b"\n" * (SMALL_STREAMED_BODY - 2 * len(good) - len(bad))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answers = []
        for extra in (b"", b"\n"):  # at the limit (read whole) and one byte over it (streamed)
            body = good + bad + padding + extra + good.replace(b'"a"', b'"c"')
            assert (len(body) <= SMALL_STREAMED_BODY) == (extra == b"")
            r = client.put(f"/resources/stores/kv/{sid}/batch", content=body,
                           headers={"Content-Type": "application/x-ndjson"})
            answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1]
    status, doc = answers[0]
    assert status == 400 and [(e["key"], e["index"]) for e in doc["errors"]] == [("b", 1)]
    assert engine.list_keys(sid).items == ["a", "c"]
