"""A bulk import over the light session (kvcli.api.http.light) on a real loopback socket, against the same import over
httpx: the click-free fast path (``kvcli.cli.fast``) runs ``create --file`` with the light session, the Typer command
with httpx.

The raw-socket server (tests/wire/rawserver.py) answers the batch requests of the import's worker threads, refuses a
batch of more than two lines with 413 (the importer splits it in halves), fails one request with 503 (retried) and
holds the first requests until several are in flight at once (so the threads really share the session). Both paths
must print the same, exit alike and leave the same lines accepted by the server; the light one must have carried
every request, never two at once on one connection.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from collections import Counter

import pytest
from click.testing import CliRunner

from kvcli.api.http import light
from tests.wire.rawserver import RawServer, Seen, response

KEYS = [f"k{i:02d}" for i in range(24)]
CONCURRENCY = 4
WAIT = 30.0  # seconds a held request waits for the others to arrive (an event, not a timing assumption)


class Batches:
    """The server's side: answers, what it accepted, and how many requests each connection had in flight at once."""

    def __init__(self, hold: int) -> None:
        self.lock = threading.Lock()
        self.accepted: Counter[bytes] = Counter()
        self.failed_once = False
        self.in_flight: Counter[int] = Counter()  # connection -> requests being answered on it
        self.overlap = 0  # the most requests being answered at once, over all connections
        self.shared = False  # two requests at once on one connection
        self.hold = hold
        self.arrived = threading.Semaphore(0)
        self.together = threading.Event()
        self.count = 0

    def answer(self, seen: Seen, index: int) -> bytes:
        lines = [line for line in seen.body.split(b"\n") if line]
        with self.lock:
            self.in_flight[seen.connection] += 1
            self.shared |= self.in_flight[seen.connection] > 1
            self.overlap = max(self.overlap, sum(self.in_flight.values()))
            self.count += 1
            if self.count >= self.hold:
                self.together.set()
        try:
            if b"/batch" not in seen.head.split(b"\r\n", 1)[0]:
                return response(status=404, reason="Not Found")
            self.together.wait(WAIT)  # the first requests wait until `hold` of them are in flight
            with self.lock:
                if len(lines) > 2:
                    return response(status=413, reason="Payload Too Large")
                if not self.failed_once and any(b'"k05"' in line for line in lines):
                    self.failed_once = True
                    return response(status=503, reason="Service Unavailable")
                self.accepted.update(lines)
            return response()
        finally:
            with self.lock:
                self.in_flight[seen.connection] -= 1


def _run(argv: list[str], *, fast: bool, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr without the import's timings and the server's address) of one path."""
    from kvcli.cli.main import run
    from kvcli.entry import run_fast

    with CliRunner().isolation(env=env) as (out, err, _):
        code = run_fast(argv) if fast else run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        assert code is not None, "the fast path declined a bulk import"
        stderr = err.getvalue().replace(env["FASTLY_API_ENDPOINT"].encode(), b"URL")
        return code, out.getvalue(), re.sub(rb" in \d+\.\d\ds( \([\d,]+ entries/s\))?", b" in Ts", stderr)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.ndjson"
    path.write_text("".join(json.dumps({"key": k, "value": base64.b64encode(k.encode()).decode()}) + "\n"
                            for k in KEYS))  # fmt: skip
    return path


def test_an_import_over_the_light_session_is_the_import_over_httpx(tmp_path, source, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    sent: Counter[str] = Counter()
    real_send = light.LightSession.send

    def counting_send(self, request):
        sent[threading.current_thread().name] += 1
        return real_send(self, request)

    monkeypatch.setattr(light.LightSession, "send", counting_send)
    results = []
    for fast in (True, False):
        batches = Batches(hold=CONCURRENCY)
        with RawServer(batches.answer) as server:
            env = {"KVCLI_CONFIG_DIR": str(tmp_path / "config"), "KVCLI_DATA_DIR": str(tmp_path / f"data-{fast}"),
                   "FASTLY_API_ENDPOINT": server.url, "FASTLY_API_TOKEN": "tok", "KVCLI_HTTP_BACKOFF_BASE": "0",
                   "KVCLI_NO_PROGRESS": "1"}  # fmt: skip
            argv = ["kv-store-entry", "create", "-s", "sid", "--file", str(source), "--batch-size", "4",
                    "--concurrency", str(CONCURRENCY), "--json"]  # fmt: skip
            code, out, err = _run(argv, fast=fast, env=env)
            if fast:
                light_requests = sum(sent.values())
                assert light_requests == len(server.seen), (light_requests, len(server.seen))
                assert len([name for name in sent if name != threading.current_thread().name]) > 1, sent
                sent.clear()
            else:
                assert not sent, "the Typer command sent through the light session"
            report = json.loads(out)
            assert report["store_id"] == "sid"
            for volatile in ("elapsed_seconds", "entries_per_second"):
                report.pop(volatile, None)
            results.append((code, report, err, dict(batches.accepted), len(server.seen)))
            assert not batches.shared and batches.overlap >= 2, (batches.shared, batches.overlap)
            assert server.connections <= CONCURRENCY + 1  # one per worker, one more after the 503's retry at most
    light_result, httpx_result = results
    assert light_result == httpx_result
    code, report, _, accepted, requests = light_result
    assert code == 0 and report["written"] == len(KEYS)
    assert sorted(json.loads(line)["key"] for line in accepted) == KEYS  # every entry once, none lost to 413 or 503
    assert requests > len(KEYS) // 2  # the 413s were split into halves and re-sent, the 503 retried
