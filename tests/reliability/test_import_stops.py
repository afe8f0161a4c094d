"""When a bulk import stops instead of spending the retry budget again on every further batch.

The HTTP adapter retries a 429 or 5xx itself; what reaches the importer has outlasted that budget. A rate limit then
applies to every further batch (stop at once, exit 6); a server error may be one bad batch (report its keys and go
on) unless SERVER_ERROR_STREAK batches in a row fail (the API is down: stop, exit 1). Either way the stopping batch
is not recorded as done, so --resume sends it again.
"""

from __future__ import annotations

import base64
import json

from kvcli.api.errors import RateLimited, ServerError
from kvcli.api.models import BatchResult
from kvcli.bulk.importer import SERVER_ERROR_STREAK, Importer, ImportOptions
from kvcli.bulk.journal import Journal
from kvcli.bulk.sources import NdjsonSource


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
    assert isinstance(imp.fatal, RateLimited) and imp.fatal.exit_code == 6
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
    assert isinstance(imp.fatal, ServerError) and imp.fatal.exit_code == 1
    assert f"{SERVER_ERROR_STREAK} chunks in a row failed" in imp.fatal.message
    assert api.calls == 1 + SERVER_ERROR_STREAK  # not one more batch after the streak
    assert imp.report.written == 5
    # the batch that stopped the import is not recorded as done: --resume sends it again
    state = journal.load()
    done = {o for s, e in state.ranges for o in range(s, e + 1)}
    last = 5 * SERVER_ERROR_STREAK
    assert not ({*range(last, last + 5)} & done)
