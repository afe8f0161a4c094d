"""When a bulk import stops instead of spending the retry budget again on every further batch.

The HTTP adapter retries a 429 or 5xx itself; what reaches the importer has outlasted that budget. A rate limit then
applies to every further batch (stop at once, exit 6); a server error may be one bad batch (report its keys and go
on) unless SERVER_ERROR_STREAK batches in a row fail (the API is down: stop, exit 1). Either way the stopping batch
is not recorded as done, so --resume sends it again.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from kvcli.api.errors import RateLimited, ServerError
from kvcli.api.models import BatchResult
from kvcli.bulk.importer import SERVER_ERROR_STREAK, Importer, ImportOptions
from kvcli.bulk.journal import Journal
from kvcli.bulk.sources import NdjsonSource
from kvcli.cli.exits import exit_code_for


class FakeApi:
    """put_batch answers from a script: 'ok', or an exception to raise, per call (then 'ok' forever)."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0
        self.written: list[str] = []

    def put_batch(self, store_id, entries):
        self.calls += 1
        step = self.script.pop(0) if self.script else "ok"
        if step != "ok":
            raise step
        self.written += [e.key for e in entries]
        return BatchResult(written=len(entries), errors=[])


def _source(tmp_path, n=40):
    p = tmp_path / "in.ndjson"
    p.write_text("".join(json.dumps({"key": f"k{i:02d}", "value": base64.b64encode(b"v").decode()}) + "\n"
                         for i in range(n)))
    return NdjsonSource(str(p))


def _run(tmp_path, script, journal=None):
    api = FakeApi(script)
    imp = Importer(api, "sid", _source(tmp_path), options=ImportOptions(max_entries=5, concurrency=1), journal=journal)
    imp.run()
    return api, imp


def _503():
    return ServerError("the Fastly API returned 503 Service Unavailable", status=503)


def test_a_rate_limit_that_outlasted_the_retries_stops_at_once(tmp_path):
    api, imp = _run(tmp_path, ["ok", RateLimited("the Fastly API returned 429 Too Many Requests", status=429)])
    assert isinstance(imp.fatal, RateLimited) and exit_code_for(imp.fatal) == 6
    assert api.calls == 2 and imp.report.written == 5 and imp.report.failed == 0
    assert imp.report.bytes == 5  # the refused batch is not counted as written


def test_an_isolated_server_error_fails_its_batch_and_the_import_goes_on(tmp_path):
    api, imp = _run(tmp_path, ["ok", _503(), "ok", _503(), _503(), "ok"])
    assert imp.fatal is None and imp.report.complete
    assert (imp.report.written, imp.report.failed) == (25, 15)


def test_server_errors_on_several_batches_in_a_row_stop_the_import_for_resume(tmp_path, isolated):
    journal = Journal.for_input(target="test", store_id="sid", fmt="ndjson", identity={"t": 1})
    journal.start()
    api, imp = _run(tmp_path, ["ok"] + [_503()] * 10, journal=journal)
    assert isinstance(imp.fatal, ServerError) and exit_code_for(imp.fatal) == 1
    assert f"{SERVER_ERROR_STREAK} chunks in a row failed" in imp.fatal.message
    assert api.calls == 1 + SERVER_ERROR_STREAK  # not one more batch after the streak
    assert imp.report.written == 5
    # the batch that stopped the import is not recorded as done: --resume sends it again
    state = journal.load()
    done = {o for s, e in state.ranges for o in range(s, e + 1)}
    last = 5 * SERVER_ERROR_STREAK
    assert not ({*range(last, last + 5)} & done)
    # nor are the batches of the streak before it (the server refused them, they were never written)
    assert done == set(range(5))


# ------------------------------------------------------------------------- batch-level failures, reported once
def test_a_batch_that_fails_whole_is_one_error_with_its_line_range(tmp_path):
    api, imp = _run(tmp_path, ["ok", _503(), "ok", _503(), _503(), "ok"])
    errors = imp.report.errors
    assert [(e["line"], e["last_line"], e["entries"]) for e in errors] == [(6, 10, 5), (16, 20, 5), (21, 25, 5)]
    assert all(e["code"] == "503" and e["key"] is None and "503" in e["detail"] for e in errors)
    assert imp.report.failed == 15  # every entry of those batches is still counted


def test_per_key_rejections_stay_per_key(tmp_path):
    from kvcli.api.models import BatchError

    class Rejecting(FakeApi):
        def put_batch(self, store_id, entries):
            self.calls += 1
            return BatchResult(written=len(entries) - 1, errors=[BatchError(index=0, key=entries[0].key,
                                                                             code="400", reason="bad entry")])

    api = Rejecting([])
    imp = Importer(api, "sid", _source(tmp_path, 10), options=ImportOptions(max_entries=5, concurrency=1))
    imp.run()
    assert [(e["key"], e["line"]) for e in imp.report.errors] == [("k00", 1), ("k05", 6)]
    assert "entries" not in imp.report.errors[0]


class FailingServer:
    """Answers every request with 503, or drops every connection without an answer."""

    def __init__(self, mode: str) -> None:
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                while n > 0:
                    n -= len(self.rfile.read(min(n, 1 << 16)) or b"x" * n)
                if mode == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = b'{"msg":"unavailable"}'
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["503", "drop"])
def failing_server(request):
    s = FailingServer(request.param)
    yield request.param, s
    s.close()


FAST_RETRIES = {"KVCLI_HTTP_MAX_ATTEMPTS": "2", "KVCLI_HTTP_BACKOFF_BASE": "0.001", "KVCLI_NO_PROGRESS": "1"}


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_every_request_failing_gives_one_line_per_batch_and_with_q_only_the_error_and_summary(
    cli, tmp_path, failing_server, concurrency
):
    mode, server = failing_server
    src = tmp_path / "big.ndjson"
    src.write_text("".join(json.dumps({"key": f"k{i}", "value": "YQ=="}) + "\n" for i in range(5000)))
    args = ["kv-store-entry", "create", "--endpoint", server.url, "--store-id", "abc", "--file", str(src),
            "--batch-size", "1000", "--concurrency", concurrency]
    res = cli(*args, env=FAST_RETRIES)
    assert res.exit_code == 1, res
    lines = res.stderr.splitlines()
    assert not [x for x in lines if "key 'k" in x or "more errors" in x], res.stderr  # nothing per key
    batch_lines = [x for x in lines if "entries not written" in x]
    if mode == "503":
        assert batch_lines and all(re.match(r".*big\.ndjson:\d+-\d+: 1,000 entries not written: .*503", x)
                                   for x in batch_lines), res.stderr
        if concurrency == "1":  # in input order (with 4 in flight, whichever fails third stops the import)
            assert "big.ndjson:1-1000: 1,000 entries not written" in batch_lines[0], res.stderr
    else:
        assert batch_lines == [], res.stderr  # a transport failure stops at once: the Error line says it all
    assert lines[-1].startswith("Error: import stopped"), res.stderr

    quiet = cli("-q", *args, env=FAST_RETRIES)
    assert quiet.exit_code == 1, quiet
    out = quiet.stderr.splitlines()
    assert len(out) == 2, quiet.stderr
    assert out[0].startswith("Import summary: written 0") and out[1].startswith("Error: import stopped"), out
