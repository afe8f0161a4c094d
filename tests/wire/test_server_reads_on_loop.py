"""Reads stay answered while every worker thread is busy (issue 14, the server).

`kvcli local serve` answers the short reads (get, describe, a list page, a store) on its event loop and leaves only
writes and streamed batches to worker threads (40 of them: anyio's default limit). Before, every request went
through a worker thread, so 40 slow batch uploads (each holding a thread while its body trickles in) stopped every
GET until one of them ended.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.served import serving_a_store

#: anyio's default number of worker threads (its default thread limiter)
WORKER_THREADS = 40
RECORDS = 1000  # the server writes a batch in chunks of this many records: the first chunk shows the handler runs


@pytest.fixture
def served(tmp_path):
    with serving_a_store(tmp_path, {"k": b"hello"}) as served:
        yield served


def _stalled_upload(port: int, sid: str, n: int) -> socket.socket:
    """A batch PUT that sends its first RECORDS records and then nothing (its handler waits in a worker thread)."""
    lines = b"".join(b'{"key":"u%d-%04d","value":"dg=="}\n' % (n, j) for j in range(RECORDS))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"PUT /resources/stores/kv/{sid}/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-ndjson\r\nContent-Length: {len(lines) * 100}\r\n\r\n".encode()
        + lines
    )
    return s


def test_reads_are_answered_while_every_worker_thread_holds_a_stalled_upload(served):
    server, engine, sid = served
    uploads = [_stalled_upload(server.port, sid, n) for n in range(WORKER_THREADS)]
    try:
        # every upload's handler has written its first chunk: all worker threads are taken (event, not a sleep)
        for n in range(WORKER_THREADS):
            while len(engine.list_keys(sid, prefix=f"u{n}-", limit=RECORDS).items) < RECORDS:
                time.sleep(0.01)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            r = client.get(f"/resources/stores/kv/{sid}/keys/k")
            assert r.status_code == 200 and r.content == b"hello"
            r = client.head(f"/resources/stores/kv/{sid}/keys/k")
            assert r.status_code == 200 and r.headers["content-length"] == "5"
            r = client.get(f"/resources/stores/kv/{sid}/keys", params={"limit": 5})
            assert r.status_code == 200 and r.json()["data"] == ["k", "u0-0000", "u0-0001", "u0-0002", "u0-0003"]
            assert client.get(f"/resources/stores/kv/{sid}").json()["name"] == "busy"
            assert client.get(f"/resources/stores/kv/{sid}/keys/missing").status_code == 404
    finally:
        for s in uploads:
            s.close()
