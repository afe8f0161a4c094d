"""kvcli.ops: typed requests (a misspelled field is a TypeError where the request is made), and operations that size
their work from the limits the backend declares on the port, not from which adapter it is."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from kvcli.api.errors import TransportError
from kvcli.api.local import LocalAdapter
from kvcli.api.models import BackendLimits
from kvcli.api.port import DEFAULT_LIMITS, limits_of
from kvcli.ops.delete import DeleteRequest, run_delete
from kvcli.ops.export import ExportRequest, run_export
from kvcli.ops.imports import ImportJob, ImportRequest, run_import
from kvcli.ops.sync import SyncRequest


@pytest.fixture
def local(isolated):
    adapter = LocalAdapter.open(isolated["data"])
    yield adapter
    adapter.close()


class Declared:
    """A port over a real adapter that declares its own limits and records what the operations sent."""

    def __init__(self, inner, limits: BackendLimits) -> None:
        self.inner = inner
        self.limits = limits
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_batch(self, store_id, entries):
        entries = list(entries)
        with self.lock:
            self.batches.append(len(entries))
        return self.inner.put_batch(store_id, entries)


def ndjson(path, n: int):
    path.write_text("".join(json.dumps({"key": f"k{i:03d}", "value": base64.b64encode(b"v").decode()}) + "\n"
                            for i in range(n)))
    return path


@pytest.mark.parametrize("make", [
    lambda: ImportRequest(file="x", dry_rnu=True),
    lambda: ExportRequest(path="x", fromat="ndjson"),
    lambda: SyncRequest(directory="d", delte=True),
    lambda: DeleteRequest(prefx="a/"),
])
def test_a_misspelled_request_field_is_a_type_error_at_the_call_site(make):
    with pytest.raises(TypeError, match="unexpected keyword"):
        make()


def test_requests_take_keywords_only():
    with pytest.raises(TypeError):
        ImportRequest("data.ndjson")  # type: ignore[misc]


def test_both_adapters_declare_their_limits_on_the_port():
    from kvcli.api.http import HttpAdapter

    embedded = LocalAdapter.limits
    http = HttpAdapter("http://127.0.0.1:9", "token").limits
    assert isinstance(embedded, BackendLimits) and isinstance(http, BackendLimits)
    # the embedded engine: one writer in this process, a batch is one transaction
    assert embedded.max_concurrency == 1 and embedded.atomic_batches and not embedded.wire_lines
    # Fastly's batch endpoint: several requests in flight help, entries succeed one by one, lines go on the wire
    assert http.max_concurrency is None and not http.atomic_batches and http.wire_lines
    assert embedded.batch_entries > http.batch_entries == 1000
    assert limits_of(object()) is DEFAULT_LIMITS  # a port that declares nothing is taken for a remote API


def test_an_import_sends_batches_of_the_declared_size(local, tmp_path):
    sid = local.create_store("declared").id
    port = Declared(local, BackendLimits(batch_entries=3, max_concurrency=1, atomic_batches=True))
    job = run_import(port, sid, ImportRequest(file=str(ndjson(tmp_path / "in.ndjson", 10))))
    assert job.fatal is None and job.report.written == 10
    assert port.batches == [3, 3, 3, 1]
    assert len(list(local.list_keys(sid).items)) == 10


def test_a_request_batch_size_overrides_the_declared_one(local, tmp_path):
    sid = local.create_store("override").id
    port = Declared(local, BackendLimits(batch_entries=3, max_concurrency=1))
    run_import(port, sid, ImportRequest(file=str(ndjson(tmp_path / "in.ndjson", 10)), batch_entries=5))
    assert port.batches == [5, 5]


@pytest.mark.parametrize(("declared", "wanted", "used"), [(1, 8, 1), (2, 8, 2), (None, 8, 8), (None, 3, 3)])
def test_the_requests_in_flight_are_capped_by_the_declared_concurrency(local, tmp_path, declared, wanted, used):
    sid = local.create_store(f"conc-{declared}-{wanted}").id
    port = Declared(local, BackendLimits(batch_entries=4, max_concurrency=declared, wire_lines=declared is None))
    job = ImportJob(ImportRequest(file=str(ndjson(tmp_path / "in.ndjson", 20)), concurrency=wanted))
    job.open_source()
    job.prepare(port, sid)
    report = job.run()
    assert report.written == 20 and sorted(port.batches) == [4] * 5
    assert job.importer is not None and job.importer.options.concurrency == used
    assert job.importer.inline == (used == 1)  # a single writer is sent to from the calling thread
    assert job.importer.options.encode_lines == (declared is None)  # pre-encoded lines only where they are sent


def test_export_and_delete_use_the_declared_concurrency(local, monkeypatch, tmp_path):
    import kvcli.bulk.delete as bulk_delete
    import kvcli.bulk.export as bulk_export

    sid = local.create_store("exp").id
    local.put_item(sid, "a", b"1")
    seen: dict[str, int] = {}
    real_export, real_delete = bulk_export.export, bulk_delete.delete_keys

    def spy_export(*args, concurrency, **kw):
        seen["export"] = concurrency
        return real_export(*args, concurrency=concurrency, **kw)

    def spy_delete(*args, concurrency, **kw):
        seen["delete"] = concurrency
        return real_delete(*args, concurrency=concurrency, **kw)

    monkeypatch.setattr(bulk_export, "export", spy_export)
    monkeypatch.setattr(bulk_delete, "delete_keys", spy_delete)
    port = Declared(local, BackendLimits(max_concurrency=3))
    run_export(port, sid, ExportRequest(path=tmp_path / "out.ndjson", concurrency=16))
    report = run_delete(port, sid, DeleteRequest(concurrency=100))
    assert seen == {"export": 3, "delete": 3} and report.deleted == 1


class BrokenListing:
    """A port whose listing fails: the export stops part-way."""

    limits = BackendLimits()

    def list_keys(self, *args, **kwargs):
        raise TransportError("connection reset")


def test_a_failed_export_to_a_file_keeps_neither_a_partial_file_nor_a_changed_one(tmp_path):
    out = tmp_path / "backup.ndjson"
    out.write_text("the previous backup\n")
    with pytest.raises(TransportError):
        run_export(BrokenListing(), "sid", ExportRequest(path=out))
    assert out.read_text() == "the previous backup\n"  # only a complete export replaces it
    assert not (tmp_path / "backup.ndjson.partial").exists()
