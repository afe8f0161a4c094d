"""The copy's fast path from the embedded engine (kvcli.bulk.copy_rows): the records and batch lines it builds
straight from the engine's rows are the ones the key-by-key path builds (byte for byte), whatever the keys, metadata,
TTLs, prefix, destination contents and resume state; what does not come from the engine is still validated."""

from __future__ import annotations

import base64
import json

import pytest

from kvcli.api.local import LocalAdapter
from kvcli.api.models import BackendLimits, BatchEntry, Item, ItemInfo, Page
from kvcli.bulk.copy import CopyReport, CopySource, Side, SourceChanged, run_copy
from kvcli.bulk.copy_rows import wire_line
from kvcli.bulk.journal import ResumeState
from kvcli.bulk.records import Bad, Entry
from kvcli.local.engine import Engine

LIMIT = 300  # the value size limit of these copies
N = 2_500  # more than two pages of rows
SUFFIXES = ["", "\u00e9", '"q"', "\\", "\u2028", "\U0001f600", "\t", " sp", "/", "\u4e2d"]
BIG = {2, 503, 1500}  # values over LIMIT


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


class AsHttp:
    """An embedded store seen as a remote destination: it takes batch lines and exposes expiry, and its items are
    read one request per key (not through the engine's in-process reads)."""

    limits = BackendLimits(wire_lines=True)
    exposes_expiry = True

    def __init__(self, api) -> None:
        self._api = api

    def __getattr__(self, name: str):
        return getattr(self._api, name)


def key(i: int) -> str:
    return f"p/{i:04d}{SUFFIXES[i % len(SUFFIXES)]}"


def source_entry(i: int) -> BatchEntry:
    value = b"x" * (LIMIT + 1 + i) if i in BIG else bytes([i % 256]) * (i % 40)
    return BatchEntry(key=key(i), value=value, metadata=f'm"{i}\u00e9\t' if i % 3 == 0 else None,
                      ttl=1000 + i if i % 7 == 0 and i not in BIG else None)


@pytest.fixture
def stores(tmp_path):
    """A source store (keys under p/ with awkward characters, metadata, TTLs, values over the limit, keys outside
    the prefix) and a destination holding some of them identical, some differing in value, metadata or TTL, and
    keys the source lacks."""
    clock = Clock()
    src_eng = Engine.in_dir(tmp_path / "src", clock=clock)
    dst_eng = Engine.in_dir(tmp_path / "dst", clock=clock)
    try:
        sid = src_eng.create_store("src").id
        did = dst_eng.create_store("dst").id
        entries = [source_entry(i) for i in range(N)]
        src_eng.put_batch(sid, [*entries, BatchEntry(key="o/out", value=b"o"), BatchEntry(key="q/out", value=b"q")])
        theirs = [BatchEntry(key="p/0000a", value=b"only there"), BatchEntry(key="p/zz", value=b"only there"),
                  BatchEntry(key="a/out", value=b"outside")]
        for i, e in enumerate(entries):
            if i in BIG:
                continue
            if i % 5 == 0:  # identical (TTLs too, or 100 s longer when i % 35 == 0)
                ttl = e.ttl + 100 if e.ttl and i % 35 == 0 else e.ttl
                theirs.append(BatchEntry(key=e.key, value=e.value, metadata=e.metadata, ttl=ttl))
            elif i % 5 == 1:
                theirs.append(BatchEntry(key=e.key, value=e.value + b"!", metadata=e.metadata, ttl=e.ttl))
            elif i % 11 == 2:
                theirs.append(BatchEntry(key=e.key, value=e.value, metadata="other", ttl=e.ttl))
        dst_eng.put_batch(did, theirs)
        clock.t += 3  # some time passes: remaining TTLs are 3 s shorter
        yield (LocalAdapter(src_eng), sid), (LocalAdapter(dst_eng), did), clock
    finally:
        src_eng.close()
        dst_eng.close()


def as_tuple(rec) -> tuple:
    if isinstance(rec, Entry):
        return ("entry", rec.key, rec.value, rec.metadata, rec.ttl, rec.background_fetch, rec.file, rec.line,
                rec.ordinal, rec.size, rec.wire)
    assert isinstance(rec, Bad)
    return ("bad", rec.key, rec.code, rec.reason, rec.file, rec.line, rec.ordinal, rec.entry is not None)


def read(src, dst, clock, *, rows: bool, remote: bool, prefix: str | None = "p/", resume=None):
    (src_api, sid), (dst_api, did) = src, dst
    report = CopyReport()
    expiry: dict[str, float] = {}
    source = CopySource(Side(src_api, sid, "from"), Side(AsHttp(dst_api) if remote else dst_api, did, "to"),
                        report, prefix=prefix, concurrency=4, resume=resume, clock=clock, expiry=expiry,
                        max_value_bytes=LIMIT, rows=rows)
    records = [as_tuple(r) for r in source.records()]
    plan = report.plan
    counts = (report.listed, report.vanished, report.ttl_carried, report.ttl_unknown, report.skipped_resumed,
              plan.create, plan.update, plan.unchanged, plan.delete, plan.create_keys, plan.update_keys,
              plan.delete_keys, source.position())
    return records, counts, {k: round(v, 3) for k, v in expiry.items()}


@pytest.mark.parametrize("remote", [True, False], ids=["lines", "embedded-destination"])
@pytest.mark.parametrize("prefix", ["p/", None])
def test_records_from_rows_are_the_key_by_key_records_byte_for_byte(stores, remote, prefix):
    src, dst, clock = stores
    fast = read(src, dst, clock, rows=True, remote=remote, prefix=prefix)
    slow = read(src, dst, clock, rows=False, remote=remote, prefix=prefix)
    assert fast == slow
    records, counts, expiry = fast
    kinds = {r[0] for r in records}
    assert kinds == {"entry", "bad"} and sum(r[0] == "bad" and r[2] == "too_large" for r in records) == len(BIG)
    assert counts[7] > 0 and counts[6] > 0 and counts[8] == (2 if prefix else 3)  # unchanged, updated, dest-only
    entries = [r for r in records if r[0] == "entry"]
    assert expiry and all(r[4] is None or r[10] is None for r in entries)  # a TTL'd entry's line is made at send
    if remote:
        assert all(r[10] is not None for r in entries if r[4] is None)


def test_resume_skips_the_same_keys_and_a_changed_source_stops_both_paths(stores):
    src, dst, clock = stores
    names = [key(i) for i in range(N)]
    state = ResumeState(ranges=[(0, 999), (1500, 1799)], checks={999: names[999], 1799: names[1799]})
    fast = read(src, dst, clock, rows=True, remote=True, resume=state)
    assert fast == read(src, dst, clock, rows=False, remote=True, resume=state)
    ordinals = {r[-2] if r[0] == "bad" else r[8] for r in fast[0]}
    assert fast[1][4] == 1300 and min(ordinals) > 999 and not ordinals & set(range(1500, 1800))
    changed = ResumeState(ranges=[(0, 999)], checks={999: "p/something else"})
    for rows in (True, False):
        with pytest.raises(SourceChanged):
            read(src, dst, clock, rows=rows, remote=True, resume=changed)


@pytest.mark.parametrize("key, value, metadata", [
    ("a", b"\x00\xff", None), ('q"\\\u00e9\u2028\t\x7f\x01', b"xy" * 100, 'm"\t\u00e9'), ("k", b"", ""),
    ("\U0001f600/\u4e2d", b"\xfe" * 7, "\u2029"),
])
def test_wire_lines_are_what_the_http_adapter_sends(key, value, metadata):
    adapter = {"key": key, "value": base64.b64encode(value).decode("ascii")}
    if metadata:
        adapter["metadata"] = metadata
    expected = json.dumps(adapter, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert wire_line(key, value, metadata) == expected


class Remote:
    """A source that is not the embedded engine (as real Fastly is): one listing page, items read one by one."""

    limits = BackendLimits()
    exposes_expiry = False

    def __init__(self, items: dict[str, bytes]) -> None:
        self.items = items

    def list_keys(self, store_id, prefix=None, cursor=None, limit=None, consistency="strong"):
        return Page(sorted(self.items), None)

    def get_item(self, store_id, key):
        return Item(info=ItemInfo(key=key, generation=1, metadata="", size=len(self.items[key]), last_modified=None),
                    value=self.items[key])


def test_records_from_a_source_that_is_not_the_engine_are_still_validated(tmp_path):
    eng = Engine.in_dir(tmp_path / "dst")
    try:
        did = eng.create_store("dst").id
        src = Remote({"ok": b"fine", "bad|key": b"x", "big": b"x" * (LIMIT + 1)})
        report, fatal = run_copy(Side(src, "sid", "remote"), Side(LocalAdapter(eng), did, "to"),
                                 max_value_bytes=LIMIT)
        assert fatal is None and report.written == 1 and report.failed == 2 and report.ttl_unknown == 3
        assert sorted(e["code"] for e in report.errors) == ["invalid_key", "too_large"]
        assert eng.get_item(did, "ok").value == b"fine"
    finally:
        eng.close()


class CountingRows:
    """The source adapter, counting the pages of rows read."""

    def __init__(self, api) -> None:
        self._api = api
        self.pages = 0

    def __getattr__(self, name: str):
        return getattr(self._api, name)

    def item_rows(self, *args, **kwargs):
        self.pages += 1
        return self._api.item_rows(*args, **kwargs)


def test_rows_are_read_a_page_at_a_time_as_the_records_are_consumed(stores):
    """Memory stays flat: a page of rows is read only when the records of the one before are used up."""
    src, dst, clock = stores
    (src_api, sid), (dst_api, did) = src, dst
    counting = CountingRows(src_api)
    source = CopySource(Side(counting, sid, "from"), Side(dst_api, did, "to"), CopyReport(), clock=clock,
                        max_value_bytes=LIMIT)
    assert source.rows
    records = source.records()
    first = [next(records) for _ in range(10)]
    assert counting.pages == 1 and first[0].key == "o/out"
    for rec in records:
        if rec.ordinal >= 1000:
            break
    assert counting.pages == 2


def test_the_copy_pipeline_takes_the_source_records_as_they_are():
    """The copy source checks its records itself, so the import pipeline does not run its validation a second time
    (and the method it overrides still exists in the import pipeline, so the override is in effect)."""
    from kvcli.bulk.copy_pipeline import CopyImporter
    from kvcli.bulk.importer import Importer
    from kvcli.bulk.sources.base import Source

    class One(Source):
        def records(self, start=None):
            yield Entry("not|checked", b"v", None, None, False, "one", None, 0)

    assert "_records" in vars(Importer)
    importer = CopyImporter(object(), "sid", One())
    assert [r.key for r in importer._records()] == ["not|checked"]
    assert [type(r) for r in Importer(object(), "sid", One())._records()] == [Bad]
