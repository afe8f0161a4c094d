"""The import pipeline over the HTTP adapter against an httpx.MockTransport: retries on 429/503, per-key errors
from the batch reply, and a chunk that keeps failing attributed to its keys while the others are written."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
http_mod = pytest.importorskip("kvcli.api.http", reason="the HTTP adapter is not built yet")

from kvcli.bulk.importer import FailedOut, Importer, ImportOptions  # noqa: E402
from kvcli.bulk.sources import NdjsonSource  # noqa: E402

STORE = "st0re"


class FakeFastly:
    """Just the batch endpoint: stores what it accepts; answers from a script of statuses first."""

    def __init__(self, script=(), reject=(), always_fail_key=None):
        self.script = list(script)  # statuses (with optional headers) to answer before behaving normally
        self.reject = set(reject)
        self.always_fail_key = always_fail_key  # a batch holding this key always gets a 503
        self.items: dict[str, bytes] = {}
        self.requests = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/resources/stores/kv/{STORE}/batch", request.url.path
        assert request.headers["Fastly-Key"] == "tok"
        lines = [json.loads(x) for x in request.content.decode().splitlines() if x.strip()]
        with self.lock:
            self.requests += 1
            if self.script:
                status, headers = self.script.pop(0)
                return httpx.Response(status, headers=headers, text="busy")
        if self.always_fail_key and any(x["key"] == self.always_fail_key for x in lines):
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        errors = []
        for i, obj in enumerate(lines):
            if obj["key"] in self.reject:
                errors.append({"key": obj["key"], "index": i, "code": "400", "reason": "refused by the fake"})
            else:
                with self.lock:
                    self.items[obj["key"]] = base64.b64decode(obj["value"])
        if errors:
            return httpx.Response(400, json={"type": "error", "title": "errors", "errors": errors})
        return httpx.Response(200, json={"type": "", "title": "success", "errors": []})


def adapter(fake: FakeFastly):
    sleeps: list[float] = []
    api = http_mod.HttpAdapter(
        "http://127.0.0.1:9", "tok", transport=httpx.MockTransport(fake), sleep=sleeps.append, max_attempts=4
    )
    return api, sleeps


def source(tmp_path: Path, n: int) -> NdjsonSource:
    p = tmp_path / "in.ndjson"
    p.write_text("".join(
        json.dumps({"key": f"k{i:03d}", "value": base64.b64encode(f"v{i}".encode()).decode()}) + "\n"
        for i in range(n)
    ))
    return NdjsonSource(str(p))


def test_429_and_503_are_retried_by_the_adapter(tmp_path):
    fake = FakeFastly(script=[(429, {"Retry-After": "0"}), (503, {}), (503, {})])
    api, sleeps = adapter(fake)
    report = Importer(api, STORE, source(tmp_path, 50), options=ImportOptions(max_entries=20, concurrency=1)).run()
    assert (report.written, report.failed) == (50, 0)
    assert fake.requests == 3 + 3  # three refused attempts, then the three chunks
    assert len(sleeps) == 3
    assert fake.items["k042"] == b"v42"


def test_concurrent_chunks_with_retries(tmp_path):
    fake = FakeFastly(script=[(429, {"Retry-After": "0"})] * 3)  # fewer than the 4 attempts a chunk gets
    api, _ = adapter(fake)
    report = Importer(api, STORE, source(tmp_path, 200), options=ImportOptions(max_entries=10, concurrency=4)).run()
    assert (report.written, report.failed, report.chunks) == (200, 0, 20)
    assert len(fake.items) == 200


def test_per_key_errors_of_the_batch_reply_are_attributed(tmp_path):
    fake = FakeFastly(reject={"k003", "k017"})
    api, _ = adapter(fake)
    report = Importer(api, STORE, source(tmp_path, 30), options=ImportOptions(max_entries=10, concurrency=2)).run()
    assert (report.written, report.failed) == (28, 2)
    assert {(e["key"], e["line"]) for e in report.errors} == {("k003", 4), ("k017", 18)}
    assert all(e["detail"] == "refused by the fake" for e in report.errors)


def test_a_chunk_failing_after_all_retries_fails_only_its_keys_reported_once(tmp_path):
    fake = FakeFastly(always_fail_key="k015")
    api, sleeps = adapter(fake)
    out_path = tmp_path / "failed.ndjson"
    with open(out_path, "w") as fh:
        report = Importer(api, STORE, source(tmp_path, 30), options=ImportOptions(max_entries=10, concurrency=1),
                          failed_out=FailedOut(fh)).run()
    assert (report.written, report.failed) == (20, 10)
    # one error for the batch, with the lines it covered (not one per key)
    assert [(e["line"], e["last_line"], e["entries"], e["first_key"], e["last_key"], e["code"])
            for e in report.errors] == [(11, 20, 10, "k010", "k019", "503")]
    assert len(sleeps) == 3  # four attempts for the failing chunk
    refeed = [json.loads(x)["key"] for x in out_path.read_text().splitlines()]
    assert refeed == [f"k{i:03d}" for i in range(10, 20)]


class CapturingFastly(FakeFastly):
    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []

    def __call__(self, request):
        self.lines.extend(json.loads(x) for x in request.content.decode().splitlines() if x.strip())
        return super().__call__(request)


def test_lines_sent_carry_every_field_whether_read_verbatim_or_encoded(tmp_path):
    p = tmp_path / "in.ndjson"
    p.write_text(
        '  {"key": "plain", "value": "eA=="}\n'  # sent as read (it is exactly key + value)
        '{"key":"full","value":"eQ==","metadata":"m","time_to_live_sec":60,"background_fetch":true}\n'
        '{"key":"float-ttl","value":"eg==","time_to_live_sec":30.0}\n'  # re-encoded: the server wants an integer
    )
    fake = CapturingFastly()
    api, _ = adapter(fake)
    report = Importer(api, STORE, NdjsonSource(str(p)), options=ImportOptions(concurrency=1, encode_lines=True)).run()
    assert report.written == 3
    by = {x["key"]: x for x in fake.lines}
    assert by["plain"] == {"key": "plain", "value": "eA=="}
    assert by["full"] == {"key": "full", "value": "eQ==", "metadata": "m", "time_to_live_sec": 60,
                          "background_fetch": True}
    assert by["float-ttl"]["time_to_live_sec"] == 30 and isinstance(by["float-ttl"]["time_to_live_sec"], int)


def test_defaults_reset_the_verbatim_line(tmp_path):
    p = tmp_path / "in.ndjson"
    p.write_text('{"key": "a", "value": "eA=="}\n')
    fake = CapturingFastly()
    api, _ = adapter(fake)
    Importer(api, STORE, NdjsonSource(str(p)),
             options=ImportOptions(concurrency=1, encode_lines=True, default_metadata="dm", default_ttl=9)).run()
    assert fake.lines == [{"key": "a", "value": "eA==", "metadata": "dm", "time_to_live_sec": 9}]
