"""The import pipeline: chunking, per-key accounting, 413 splitting, fatal errors, concurrency, order, resume."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from pathlib import Path

import pytest

from kvcli.api.errors import Interrupted, ServerError, TooLarge, TransportError
from kvcli.api.local import LocalAdapter
from kvcli.api.models import BatchError, BatchResult
from kvcli.bulk.batching import batches, encoded_size
from kvcli.bulk.importer import FailedOut, Importer, ImportOptions
from kvcli.bulk.journal import InputChanged, Journal
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources import NdjsonSource


def line(key: str, value: bytes | str = b"v", **extra) -> str:
    if isinstance(value, str):
        value = value.encode()
    return json.dumps({"key": key, "value": base64.b64encode(value).decode(), **extra})


def write_ndjson(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


class Sink:
    """The port's put_batch over a real adapter, with failures the test chooses and a record of every call."""

    def __init__(self, inner, *, reject=(), interrupt_after=None, fail_with=None, fail_calls=(), delay=None,
                 too_large_over=None):
        self.inner = inner
        self.reject = set(reject)  # keys the backend refuses in its batch reply
        self.interrupt_after = interrupt_after  # raise KeyboardInterrupt on this call number (1-based)
        self.fail_with = fail_with  # exception raised on the calls in fail_calls
        self.fail_calls = set(fail_calls)
        self.delay = delay  # key -> seconds to sleep when a batch holds that key
        self.too_large_over = too_large_over
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_batch(self, store_id, entries):
        entries = list(entries)
        with self.lock:
            self.calls.append([e.key for e in entries])
            n = len(self.calls)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                for e in entries:
                    if e.key in self.delay:
                        time.sleep(self.delay[e.key])
            if self.interrupt_after is not None and n == self.interrupt_after:
                raise KeyboardInterrupt
            if n in self.fail_calls:
                raise self.fail_with
            if self.too_large_over is not None and len(entries) > self.too_large_over:
                raise TooLarge("request too large", status=413)
            good = [e for e in entries if e.key not in self.reject]
            errors = [BatchError(index=i, key=e.key, code="400", reason="rejected by the test")
                      for i, e in enumerate(entries) if e.key in self.reject]
            result = self.inner.put_batch(store_id, good)
            return BatchResult(written=result.written, errors=errors)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def local(isolated):
    adapter = LocalAdapter.open(isolated["data"])
    yield adapter
    adapter.close()


@pytest.fixture
def sid(local) -> str:
    return local.create_store("bulk").id


def stored(api, store_id) -> dict[str, bytes]:
    out = {}
    cursor = None
    while True:
        page = api.list_keys(store_id, cursor=cursor)
        for k in page.items:
            out[k] = api.get_item(store_id, k).value
        if not page.next_cursor:
            return out
        cursor = page.next_cursor


# ------------------------------------------------------------------------------------------------- batching
def _entry(i: int, size: int = 10) -> Entry:
    return Entry(f"k{i}", b"x" * size, ordinal=i)


def test_batches_bound_count_and_bytes():
    chunks = list(batches((_entry(i) for i in range(25)), max_entries=10, max_bytes=10**9))
    assert [len(c.entries) for c in chunks] == [10, 10, 5]
    assert [(c.start, c.end) for c in chunks] == [(0, 9), (10, 19), (20, 24)]
    per = encoded_size(_entry(0, 3000))
    chunks = list(batches((_entry(i, 3000) for i in range(10)), max_entries=1000, max_bytes=per * 3))
    assert [len(c.entries) for c in chunks] == [3, 3, 3, 1]
    assert all(c.nbytes <= per * 3 for c in chunks)


def test_an_entry_larger_than_the_byte_limit_goes_alone():
    recs = [_entry(0), _entry(1, 10_000), _entry(2)]
    chunks = list(batches(recs, max_entries=100, max_bytes=1000))
    assert [[e.key for e in c.entries] for c in chunks] == [["k0"], ["k1"], ["k2"]]


def test_bad_records_ride_in_chunks_and_ranges_touch():
    recs = [_entry(0), Bad("x", "f", 2, 1), _entry(2), _entry(3), Bad("y", "f", 5, 4), Bad("z", "f", 6, 5)]
    chunks = list(batches(recs, max_entries=2, max_bytes=10**9))
    assert [(c.start, c.end, len(c.entries), len(c.bad)) for c in chunks] == [(0, 2, 2, 1), (3, 5, 1, 2)]


def test_many_bad_records_do_not_pile_up_in_memory():
    recs = (Bad("x", "f", i, i) for i in range(10_000))
    chunks = list(batches(recs, max_entries=100, max_bytes=10**9))
    assert max(len(c.bad) for c in chunks) <= 100 and sum(len(c.bad) for c in chunks) == 10_000


# ---------------------------------------------------------------------------------------------- accounting
def test_import_writes_everything_in_chunks(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i:04d}", f"v{i}") for i in range(2500)])
    sink = Sink(local)
    report = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=1000, concurrency=1)).run()
    assert (report.written, report.failed, report.chunks) == (2500, 0, 3)
    assert [len(c) for c in sink.calls] == [1000, 1000, 500]
    assert stored(local, sid)["k0042"] == b"v42"


def test_rejected_keys_are_attributed_with_file_and_line_and_failed_out_refeeds(tmp_path, local, sid):
    lines = [line(f"k{i}", f"v{i}") for i in range(10)]
    lines[3] = "garbage"
    src = write_ndjson(tmp_path / "in.ndjson", lines)
    out = io.StringIO()
    sink = Sink(local, reject={"k5", "k8"})
    report = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=4, concurrency=1),
                      failed_out=FailedOut(out)).run()
    assert (report.written, report.failed, report.invalid) == (7, 3, 1)
    where = {e["key"]: (e["line"], e["code"]) for e in report.errors}
    assert where == {None: (4, "invalid_json"), "k5": (6, "400"), "k8": (9, "400")}
    refeed = out.getvalue().splitlines()
    assert refeed[0] == "garbage"  # an unparseable line is written back as it was, for fixing
    assert [json.loads(x)["key"] for x in refeed[1:]] == ["k5", "k8"]
    # fix the garbage line, feed the file back with the backend now accepting everything
    fixed = tmp_path / "fixed.ndjson"
    fixed.write_text("\n".join([line("k3", "v3")] + refeed[1:]) + "\n")
    again = Importer(local, sid, NdjsonSource(str(fixed)), options=ImportOptions(concurrency=1)).run()
    assert (again.written, again.failed) == (3, 0)
    assert stored(local, sid) == {f"k{i}": f"v{i}".encode() for i in range(10)}


def test_413_splits_the_chunk(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i}") for i in range(10)])
    sink = Sink(local, too_large_over=3)
    report = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=10, concurrency=1)).run()
    assert (report.written, report.failed) == (10, 0)
    accepted = [k for call in sink.calls if len(call) <= 3 for k in call]
    assert sorted(accepted) == sorted(f"k{i}" for i in range(10))  # halves of halves until they fit
    assert [len(c) for c in sink.calls[:3]] == [10, 5, 2]


def test_a_failed_chunk_fails_its_keys_and_the_rest_go_on(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i}") for i in range(9)])
    sink = Sink(local, fail_with=ServerError("server error", status=503), fail_calls={2})
    report = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=3, concurrency=1)).run()
    assert (report.written, report.failed) == (6, 3)
    # the whole chunk failed for one cause: one error naming its range of lines
    assert [(e["line"], e["last_line"], e["entries"], e["first_key"], e["last_key"], e["code"])
            for e in report.errors] == [(4, 6, 3, "k3", "k5", "503")]
    assert report.complete


def test_max_errors_stops_the_import(tmp_path, local, sid):
    lines = [("bad" if i % 2 else line(f"k{i}")) for i in range(100)]
    src = write_ndjson(tmp_path / "in.ndjson", lines)
    report = Importer(local, sid, NdjsonSource(str(src)),
                      options=ImportOptions(max_entries=10, concurrency=1, max_errors=7)).run()
    assert report.stopped and report.stop_reason == "max_errors" and "--" not in report.stopped  # the CLI words it
    assert report.failed == 8 and report.written < 50


def test_bad_entries_never_stop_good_ones_without_a_limit(tmp_path, local, sid):
    lines = [("bad" if i % 2 else line(f"k{i}")) for i in range(100)]
    src = write_ndjson(tmp_path / "in.ndjson", lines)
    report = Importer(local, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=10, concurrency=1)).run()
    assert (report.written, report.failed, report.stopped) == (50, 50, None)


def test_defaults_apply_to_entries_without_their_own(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line("a"), line("b", metadata="own", time_to_live_sec=5)])
    Importer(local, sid, NdjsonSource(str(src)),
             options=ImportOptions(concurrency=1, default_metadata="dflt", default_ttl=100)).run()
    a, b = local.describe_item(sid, "a"), local.describe_item(sid, "b")
    assert a.metadata == "dflt" and a.expires_at is not None
    assert b.metadata == "own"


def test_dry_run_sends_nothing(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line("a"), "bad", line("b")])
    sink = Sink(local)
    report = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(dry_run=True)).run()
    assert sink.calls == [] and (report.valid, report.invalid, report.written) == (2, 1, 0)


# ------------------------------------------------------------------------------------------------ concurrency
def test_concurrent_chunks_are_bounded_and_all_accounted(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i:04d}") for i in range(400)])
    sink = Sink(local, delay={f"k{i:04d}": 0.02 for i in range(0, 400, 10)}, reject={"k0007"})
    report = Importer(sink, sid, NdjsonSource(str(src)),
                      options=ImportOptions(max_entries=10, concurrency=3)).run()
    assert (report.written, report.failed, report.chunks) == (399, 1, 40)
    assert 1 < sink.max_in_flight <= 3


def test_duplicate_keys_are_written_in_input_order_even_with_concurrency(tmp_path, local, sid):
    # chunk 0 holds the first "dup" and is slow; chunk 1 holds the second: the second must still win
    lines = [line("dup", "first"), line("slow")] + [line("dup", "second"), line("x")]
    src = write_ndjson(tmp_path / "in.ndjson", lines)
    sink = Sink(local, delay={"slow": 0.3})
    Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=2, concurrency=4)).run()
    assert local.get_item(sid, "dup").value == b"second"


def test_fatal_error_stops_and_keeps_the_journal(tmp_path, local, sid):
    src = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i}") for i in range(50)])
    journal = Journal.for_input(target="t", store_id=sid, fmt="ndjson", identity={"p": 1})
    journal.start()
    sink = Sink(local, fail_with=TransportError("connection refused"), fail_calls={3})
    imp = Importer(sink, sid, NdjsonSource(str(src)), options=ImportOptions(max_entries=10, concurrency=1),
                   journal=journal)
    report = imp.run()
    assert isinstance(imp.fatal, TransportError) and report.written == 20 and report.stopped
    assert len(sink.calls) == 3  # nothing was sent after the fatal error
    assert journal.exists() and journal.load().ranges == [(0, 19)]


# ------------------------------------------------------------------------------------------------------ resume
def _import(api, sid, path, *, resume: bool, **opts):
    src = NdjsonSource(str(path))
    journal = Journal.for_input(target="test", store_id=sid, fmt="ndjson", identity=src.identity())
    state = None
    if resume and journal.exists():
        state = journal.load()
        journal.resume()
    else:
        journal.start()
    imp = Importer(api, sid, src, options=ImportOptions(**opts), journal=journal, resume=state)
    return imp, journal


@pytest.mark.parametrize("concurrency", [1, 3])
def test_resume_after_interruption_skips_what_was_acknowledged(tmp_path, local, sid, concurrency):
    lines = [line(f"k{i:03d}", f"v{i}") for i in range(100)]
    lines[15] = "not json"  # a bad line inside an acknowledged range is not reported again
    path = write_ndjson(tmp_path / "in.ndjson", lines)
    sink = Sink(local, interrupt_after=4)
    imp, journal = _import(sink, sid, path, resume=False, max_entries=10, concurrency=concurrency)
    with pytest.raises(Interrupted):
        imp.run()
    assert journal.exists()
    first_written = imp.report.written
    acked = journal.load().ranges
    assert acked and first_written >= 20  # the chunks that completed before Ctrl-C were recorded
    acknowledged = {i for s_, e_ in acked for i in range(s_, e_ + 1)}
    # the re-run sends only what was not acknowledged
    sink2 = Sink(local)
    imp2, journal2 = _import(sink2, sid, path, resume=True, max_entries=10, concurrency=concurrency)
    report = imp2.run()
    resent = {int(k[1:]) for call in sink2.calls for k in call}
    assert resent and not (resent & acknowledged)
    assert resent | acknowledged == set(range(100)) - {15} | (acknowledged & {15})
    assert report.skipped == len(acknowledged)
    assert report.resumed and report.earlier_written == first_written
    assert 15 in acknowledged and report.errors == []  # the bad line was reported by the first run only
    assert stored(local, sid) == {f"k{i:03d}": f"v{i}".encode() for i in range(100) if i != 15}
    assert journal2.load().complete  # finished: nothing left to resume


def test_resume_seeks_ndjson_past_the_acknowledged_prefix(tmp_path, local, sid):
    path = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i:03d}") for i in range(100)])
    sink = Sink(local, interrupt_after=5)
    imp, _ = _import(sink, sid, path, resume=False, max_entries=10, concurrency=1)
    with pytest.raises(Interrupted):
        imp.run()
    imp2, journal = _import(local, sid, path, resume=True, max_entries=10, concurrency=1)
    state = journal.load()
    assert state.point is not None and state.point.ordinal == 40 and state.point.offset > 0
    report = imp2.run()
    assert (report.skipped, report.written) == (40, 60)


def test_resume_refuses_a_changed_input(tmp_path, local, sid):
    from kvcli.bulk.journal import ResumeState

    path = write_ndjson(tmp_path / "in.ndjson", [line(f"k{i}") for i in range(10)])
    state = ResumeState(ranges=[(0, 4)], checks={4: "something-else"})
    imp = Importer(local, sid, NdjsonSource(str(path)), options=ImportOptions(concurrency=1), resume=state)
    report = imp.run()
    assert isinstance(imp.fatal, InputChanged) and report.written == 0 and report.stopped


def test_journal_ignores_a_torn_last_line(tmp_path):
    j = Journal(tmp_path / "x.journal", {"kvcli_import_journal": 1})
    j.start()
    from kvcli.bulk.batching import Chunk

    j.record(Chunk(0, 0, 9, last_key="k9"), 10, 0)
    j.close()
    with open(j.path, "a") as fh:
        fh.write('{"s": 10, "e"')  # killed mid-write
    state = j.load()
    assert state.ranges == [(0, 9)] and state.written == 10 and state.point.ordinal == 10


def test_old_journals_are_pruned_when_an_import_starts(tmp_path):
    import os

    old = tmp_path / "old.journal"
    old.write_text("{}\n")
    os.utime(old, (1, 1))
    recent = tmp_path / "recent.journal"
    recent.write_text("{}\n")
    Journal(tmp_path / "new.journal", {"kvcli_import_journal": 1}).start()
    assert not old.exists() and recent.exists() and (tmp_path / "new.journal").exists()
