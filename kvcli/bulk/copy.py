"""Copy one store (or a prefix of it) into another, on any two backends, writing only what differs.

The pipeline is the import's (:mod:`kvcli.bulk.importer`): batches cut by count and bytes, several in flight over
HTTP, per-key accounting, 413 splitting, retries in the HTTP adapter, the resume journal. Only the source is new:
:class:`CopySource` merges the two stores' sorted key listings (:mod:`kvcli.bulk.compare`), reads each source key
(and the destination's copy of it, when there is one) with bounded concurrency, in key order, and yields an
:class:`~kvcli.bulk.records.Entry` for every key that is missing or differs. Keys that already match are counted and
never written.

* Ordinals are positions in the source's key listing (under the prefix), so a resumed copy skips the keys an
  interrupted one had acknowledged without reading them; the last key of every acknowledged batch is checked
  against the listing, and a source that changed refuses ``resume`` rather than skipping the wrong keys.
* TTLs: an item's remaining time to live is carried where the source says when items expire (the embedded engine,
  ``kvcli local serve``); from real Fastly, which does not, keys are written without a TTL and counted in
  ``ttl_unknown``.
* ``delete``: destination keys (under the prefix) that the source lacks are deleted after the copy, in a second
  merge of the two listings (so nothing is kept in memory). Fastly's batch endpoint only upserts: each deletion is
  one request (a non-read request for Fastly's hourly limit), retried on 429 by the HTTP adapter as writes are.
* ``dry_run``: the same comparison, nothing written; the plan's counts and (up to :data:`PLAN_KEYS` of each kind)
  keys, and the number of write requests the plan needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from kvcli.api.errors import AuthError, KvcliError, NotFound, RateLimited, StorageError, TransportError, UsageError
from kvcli.api.models import Item
from kvcli.api.port import limits_of
from kvcli.bulk import batching
from kvcli.bulk.compare import (
    differences,
    exposes_expiry,
    is_embedded,
    listed,
    merge,
    ordered_map,
    read_item,
    remaining_ttl,
)
from kvcli.bulk.journal import ResumeState
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources.base import ResumePoint, Source

#: keys of each kind a dry-run plan lists (the counts are always exact)
PLAN_KEYS = 1000
#: read errors every further read would hit as well: they stop the copy instead of failing key after key
FATAL_READ = (TransportError, AuthError, RateLimited, StorageError)
READ_CONCURRENCY = 16
WRITE_CONCURRENCY = 4
DELETE_MAX_ERRORS = 100
GROUP = 500  # keys read per transaction from the embedded engine


@dataclass
class Side:
    """One end of a copy or diff: an adapter, a store ID, and how to name it in messages and journals."""

    api: Any
    store_id: str
    label: str  # e.g. "KV store 'photos' (embedded backend)"
    target_id: str = ""  # the backend's identity in resume journals ("local:/path" or "http:URL")


@dataclass
class Plan:
    """What a copy does (or did) key by key: counts always exact, keys kept up to PLAN_KEYS of each kind."""

    create: int = 0
    update: int = 0
    unchanged: int = 0
    delete: int = 0
    create_keys: list[str] = field(default_factory=list)
    update_keys: list[str] = field(default_factory=list)
    delete_keys: list[str] = field(default_factory=list)

    def add(self, kind: str, key: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        keys = getattr(self, f"{kind}_keys", None)
        if keys is not None and len(keys) < PLAN_KEYS:
            keys.append(key)


@dataclass
class CopyReport:
    """The outcome of :func:`copy_store`. ``written``/``failed`` come from the import pipeline; the plan counts
    say what the comparison decided (``unchanged``: keys that already matched, not written)."""

    source: str = ""
    destination: str = ""
    prefix: str | None = None
    dry_run: bool = False
    created_store: bool = False
    listed: int = 0  # source keys considered (under the prefix)
    plan: Plan = field(default_factory=Plan)
    written: int = 0
    failed: int = 0
    deleted: int = 0
    delete_failed: int = 0
    skipped_resumed: int = 0  # acknowledged by an interrupted run (resume): neither read nor written
    vanished: int = 0  # listed in the source, gone when read (deleted or expired meanwhile)
    ttl_carried: int = 0  # keys written with their remaining TTL
    ttl_unknown: int = 0  # keys written without a TTL because the source does not say when items expire
    bytes: int = 0
    write_requests: int = 0  # batch requests (HTTP) or transactions (embedded) the writes need / needed
    delete_requests: int = 0  # one per deleted key over HTTP (Fastly has no batch delete)
    errors: list[dict] = field(default_factory=list)  # failed keys (up to the import's reporting limit)
    errors_omitted: int = 0
    stopped: str | None = None
    resumed: bool = False
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.delete_failed == 0 and self.stopped is None

    @property
    def skipped(self) -> int:
        """Keys not written because they already matched (or were done by the interrupted run resumed)."""
        return self.plan.unchanged + self.skipped_resumed

    def to_json(self) -> dict:
        plan = self.plan
        out: dict[str, Any] = {
            "success": self.ok,
            "source": self.source,
            "destination": self.destination,
            "prefix": self.prefix,
            "dry_run": self.dry_run,
            "created_store": self.created_store,
            "listed": self.listed,
            "plan": {"create": plan.create, "update": plan.update, "unchanged": plan.unchanged,
                     "delete": plan.delete},
            "written": self.written,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "failed": self.failed + self.delete_failed,
            "skipped_resumed": self.skipped_resumed,
            "vanished": self.vanished,
            "ttl_carried": self.ttl_carried,
            "ttl_unknown": self.ttl_unknown,
            "bytes": self.bytes,
            "write_requests": self.write_requests,
            "delete_requests": self.delete_requests,
            "errors": self.errors,
            "stopped": self.stopped,
            "elapsed_seconds": round(self.elapsed, 3),
        }
        if self.errors_omitted:
            out["errors_omitted"] = self.errors_omitted
        if self.resumed:
            out["resumed"] = True
        if self.dry_run:
            out["keys"] = {"create": plan.create_keys, "update": plan.update_keys, "delete": plan.delete_keys}
        if self.notes:
            out["notes"] = self.notes
        return out


class SourceChanged(UsageError):
    pass


def batch_line(key: str, value: bytes, metadata: str | None) -> bytes | None:
    """The Fastly batch line of an entry without a TTL, as the HTTP adapter would send it (None: let it encode)."""
    from base64 import b64encode
    from json.encoder import encode_basestring

    try:
        line = b'{"key":' + encode_basestring(key).encode("utf-8") + b',"value":"' + b64encode(value) + b'"'
        if metadata:
            line += b',"metadata":' + encode_basestring(metadata).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the adapter reports it
        return None
    return line + b"}"


class TtlAtWrite:
    """The destination adapter, with each TTL'd entry's remaining TTL worked out when its batch is sent rather than
    when its item was read (a batch of the embedded engine holds up to 10,000 entries: seconds of reading).

    The source records each such key's expiry in :attr:`expiry`; an entry leaves it once its batch was answered.
    """

    def __init__(self, api, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self.clock = clock
        self.expiry: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def put_batch(self, store_id: str, entries):
        from kvcli.api.errors import TooLarge

        now = self.clock()
        for e in entries:
            at = self.expiry.get(e.key)
            if at is not None:
                e.ttl = max(1, math.floor(at - now + 0.5))
                e.wire = None
        try:
            result = self._api.put_batch(store_id, entries)
        except TooLarge:  # split and sent again by the importer
            raise
        except BaseException:
            self._forget(entries)
            raise
        self._forget(entries)
        return result

    def _forget(self, entries) -> None:
        for e in entries:
            self.expiry.pop(e.key, None)


class CopySource(Source):
    """The source store's keys that the destination lacks or holds differently, as import records."""

    format = "copy"

    def __init__(
        self,
        src: Side,
        dst: Side,
        report: CopyReport,
        *,
        prefix: str | None = None,
        concurrency: int = READ_CONCURRENCY,
        resume: ResumeState | None = None,
        dst_exists: bool = True,
        clock: Callable[[], float] = time.time,
        expiry: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.src, self.dst, self.report = src, dst, report
        self.label = src.label
        self.prefix = prefix
        self.concurrency = concurrency
        self.resume_state = resume
        self.dst_exists = dst_exists
        self.clock = clock
        #: key -> expiry (epoch seconds) of the TTL'd entries yielded, for :class:`TtlAtWrite`
        self.expiry = expiry
        self.keep_wire = False
        #: pre-encode each entry's batch line (HTTP destinations): cheaper than the adapter's generic encoding
        self.encode = limits_of(dst.api).wire_lines
        self.src_expiry = exposes_expiry(src.api, src.store_id)
        self.dst_expiry = dst_exists and exposes_expiry(dst.api, dst.store_id)

    def identity(self) -> dict:
        return {"from": self.src.target_id, "store": self.src.store_id, "prefix": self.prefix or ""}

    def _todo(self) -> Iterator[tuple[int, str, bool]]:
        """(ordinal, key, in destination) for every source key not acknowledged by an interrupted run."""
        src_keys = listed(self.src.api, self.src.store_id, self.prefix, side=self.src.label)
        dst_keys: Iterator[str] = listed(self.dst.api, self.dst.store_id, self.prefix, side=self.dst.label) \
            if self.dst_exists else iter(())
        state = self.resume_state
        ranges = state.ranges if state is not None else []
        checks = state.checks if state is not None else {}
        i = 0
        ordinal = -1
        for key, in_src, in_dst in merge(src_keys, dst_keys):
            if not in_src:
                self.report.plan.add("delete", key)  # (deleted by the second pass when asked)
                continue
            ordinal += 1
            self.report.listed += 1
            while i < len(ranges) and ranges[i][1] < ordinal:
                i += 1
            if i < len(ranges) and ranges[i][0] <= ordinal:
                expected = checks.get(ordinal)
                if expected is not None and expected != key:
                    raise SourceChanged(
                        f"the source store changed since the interrupted copy (key {ordinal + 1:,} is now {key!r}, "
                        f"was {expected!r})",
                        "run the copy again without resume: it compares every key and writes only what differs")
                self.report.skipped_resumed += 1
                continue
            yield ordinal, key, in_dst

    def _read(self, job: tuple[int, str, bool]) -> tuple[int, str, Item | None, Item | None, KvcliError | None]:
        ordinal, key, in_dst = job
        try:
            item = read_item(self.src.api, self.src.store_id, key)
        except FATAL_READ:
            raise
        except KvcliError as exc:
            return ordinal, key, None, None, exc
        other = None
        if item is not None and in_dst:
            try:
                other = read_item(self.dst.api, self.dst.store_id, key)
            except FATAL_READ:
                raise
            except KvcliError:  # cannot compare: write it (an upsert is always safe)
                other = None
        return ordinal, key, item, other, None

    def _reads(self) -> Iterator[tuple[int, str, Item | None, Item | None, KvcliError | None]]:
        """Every job read, in order: one key at a time (with bounded concurrency) from HTTP; a group of keys per
        read transaction from the embedded engine (``get_items``)."""
        many = getattr(self.src.api, "get_items", None) if is_embedded(self.src.api) else None
        if many is None:
            yield from ordered_map(self._read, self._todo(), self.concurrency)
            return
        dst_many = getattr(self.dst.api, "get_items", None) if is_embedded(self.dst.api) else None
        jobs = self._todo()
        while True:
            group = list(islice(jobs, GROUP))
            if not group:
                return
            items = many(self.src.store_id, [k for _o, k, _d in group])
            wanted = [k for (_o, k, in_dst), item in zip(group, items, strict=True) if in_dst and item is not None]
            others: dict[str, Item | None] = {}
            if wanted:
                if dst_many is not None:
                    others = dict(zip(wanted, dst_many(self.dst.store_id, wanted), strict=True))
                else:
                    others = dict(zip(wanted, ordered_map(self._read_dst, wanted, self.concurrency), strict=True))
            for (ordinal, key, _in_dst), item in zip(group, items, strict=True):
                yield ordinal, key, item, others.get(key), None

    def _read_dst(self, key: str) -> Item | None:
        try:
            return read_item(self.dst.api, self.dst.store_id, key)
        except FATAL_READ:
            raise
        except KvcliError:  # cannot compare: write it (an upsert is always safe)
            return None

    def records(self, start: ResumePoint | None = None) -> Iterator[Entry | Bad]:
        report = self.report
        plan = report.plan
        compare_ttl = self.src_expiry and self.dst_expiry
        for ordinal, key, item, other, exc in self._reads():
            if exc is not None:
                yield Bad(f"reading it from the source failed: {exc.message}", self.label, None, ordinal, key=key,
                          code=str(getattr(exc, "status", "") or exc.kind))
                continue
            if item is None:
                report.vanished += 1
                continue
            ttl: int | None = None
            if self.src_expiry:
                left = remaining_ttl(item.expires_at, self.clock())
                if left is not None:
                    if left <= 0:  # expired since it was listed
                        report.vanished += 1
                        continue
                    ttl = max(1, math.floor(left + 0.5))
            if other is not None:
                if not differences(item, other, ttl=compare_ttl):
                    plan.add("unchanged", key)
                    continue
                plan.add("update", key)
            else:
                plan.add("create", key)
            if ttl is not None:
                report.ttl_carried += 1
                if self.expiry is not None:
                    self.expiry[key] = item.expires_at.timestamp()  # type: ignore[union-attr]
            elif not self.src_expiry:
                report.ttl_unknown += 1
            self._position += len(item.value)
            entry = Entry(key, item.value, item.metadata or None, ttl, False, self.label, None, ordinal,
                          size=len(item.value))
            if self.encode and ttl is None:
                entry.wire = batch_line(key, item.value, entry.metadata)
            yield entry


def dest_only(src: Side, dst: Side, prefix: str | None) -> Iterator[str]:
    """Destination keys (under ``prefix``) the source does not have, streamed."""
    src_keys = listed(src.api, src.store_id, prefix, side=src.label)
    dst_keys = listed(dst.api, dst.store_id, prefix, side=dst.label)
    for key, in_src, _in_dst in merge(src_keys, dst_keys):
        if not in_src:
            yield key


def count_dest_only(src: Side, dst: Side, prefix: str | None) -> int:
    """How many keys ``delete`` would remove (two key listings, no value read)."""
    return sum(1 for _ in dest_only(src, dst, prefix))


def write_limits(api) -> tuple[int, int, int]:
    """(entries per batch, bytes per batch, batches in flight) for a destination."""
    limits = limits_of(api)
    return limits.batch_entries, limits.batch_bytes, limits.concurrency(WRITE_CONCURRENCY)


def plan_only(source: CopySource, dst_api, *, delete: bool, on_progress: Callable[[CopyReport], None] | None,
              max_value_bytes: int | None = None) -> None:
    """A dry run: compare everything and count the write requests the plan needs; write nothing."""
    from kvcli.bulk.validate import validate

    report = source.report
    max_entries, max_bytes, _ = write_limits(dst_api)
    invalid = 0
    for chunk in batching.batches(validate(source.records(), max_value_bytes=max_value_bytes),
                                  max_entries=max_entries, max_bytes=max_bytes):
        if chunk.entries:
            report.write_requests += 1
        invalid += len(chunk.bad)
        for bad in chunk.bad:
            if len(report.errors) < PLAN_KEYS:
                report.errors.append({"key": bad.key, "code": bad.code, "detail": bad.reason})
        if on_progress is not None:
            on_progress(report)
    report.failed = invalid
    if delete:
        report.delete_requests = report.plan.delete if not is_embedded(dst_api) else \
            math.ceil(report.plan.delete / 500)
    else:
        report.plan.delete = 0
        report.plan.delete_keys.clear()


def delete_extra(src: Side, dst: Side, report: CopyReport, *, prefix: str | None, concurrency: int,
                 on_progress: Callable[[CopyReport], None] | None = None) -> None:
    """The ``delete`` pass: remove destination keys the source lacks (after the copy, in a fresh merge)."""
    from kvcli.bulk.delete import delete_keys

    embedded = is_embedded(dst.api)

    def progress(dr) -> None:
        report.deleted = dr.deleted
        if on_progress is not None:
            on_progress(report)

    dr = delete_keys(dst.api, dst.store_id, dest_only(src, dst, prefix),
                     concurrency=1 if embedded else max(1, concurrency), max_errors=DELETE_MAX_ERRORS,
                     on_progress=progress)
    report.deleted = dr.deleted
    report.delete_failed = dr.failed
    report.plan.delete = dr.deleted + dr.failed
    report.delete_requests = (dr.deleted + dr.failed) if not embedded else math.ceil((dr.deleted + dr.failed) / 500)
    for key, msg in dr.errors:
        report.errors.append({"key": key, "code": "delete", "detail": f"delete failed: {msg}"})
    if dr.list_error:
        report.stopped = f"listing for the deletions failed: {dr.list_error}"
    elif dr.stopped_early:
        report.stopped = f"more than {DELETE_MAX_ERRORS} deletions failed"


def missing_store(exc: NotFound) -> bool:
    return exc.key is None


def run_copy(
    src: Side,
    dst: Side,
    *,
    prefix: str | None = None,
    delete: bool = False,
    dry_run: bool = False,
    concurrency: int = READ_CONCURRENCY,
    dst_exists: bool = True,
    journal=None,
    resume_state: ResumeState | None = None,
    on_progress: Callable[[CopyReport], None] | None = None,
    failed_out=None,
    interrupts=None,
    on_interrupt: Callable[[int], None] | None = None,
    max_value_bytes: int | None = None,
    tune_gc: bool = False,
    report: CopyReport | None = None,
) -> tuple[CopyReport, KvcliError | None]:
    """Run one copy; returns the report and the error that stopped it early (None when it ran to the end).

    ``Interrupted`` (Ctrl-C through ``interrupts``) propagates, with ``report`` (pass one to read it then) filled
    in with what was acknowledged; ``journal`` (a started or resumed :class:`~kvcli.bulk.journal.Journal`) records
    every acknowledged batch.
    """
    from kvcli.api.errors import Interrupted
    from kvcli.bulk.importer import Importer, ImportOptions
    from kvcli.bulk.interrupts import NO_GATE

    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1 (got {concurrency})", "pass 1 or more")
    t0 = time.monotonic()
    report = report if report is not None else CopyReport()
    report.source, report.destination, report.prefix, report.dry_run = src.label, dst.label, prefix, dry_run
    report.resumed = resume_state is not None
    both_embedded = is_embedded(src.api) and is_embedded(dst.api)
    sink = TtlAtWrite(dst.api)
    source = CopySource(src, dst, report, prefix=prefix, concurrency=1 if both_embedded else concurrency,
                        resume=resume_state, dst_exists=dst_exists, expiry=None if dry_run else sink.expiry)
    if dry_run:
        plan_only(source, dst.api, delete=delete, on_progress=on_progress, max_value_bytes=max_value_bytes)
        report.elapsed = time.monotonic() - t0
        return report, None
    max_entries, max_bytes, in_flight = write_limits(dst.api)
    # encode_lines=False: the HTTP adapter encodes each batch as it sends it, after TtlAtWrite set the TTLs
    options = ImportOptions(max_entries=max_entries, max_bytes=max_bytes, concurrency=min(in_flight, concurrency),
                            encode_lines=False, max_value_bytes=max_value_bytes, tune_gc=tune_gc)

    def sync(ir) -> None:
        report.written, report.failed, report.bytes = ir.written, ir.failed, ir.bytes
        report.write_requests, report.errors, report.errors_omitted = ir.chunks, list(ir.errors), ir.errors_omitted
        report.stopped = ir.stopped

    def progress(ir) -> None:
        sync(ir)
        if on_progress is not None:
            on_progress(report)

    importer = Importer(sink, dst.store_id, source, options=options, journal=journal, failed_out=failed_out,
                        on_progress=progress, interrupts=interrupts or NO_GATE, on_interrupt=on_interrupt)
    try:
        importer.run()
    except Interrupted:
        sync(importer.report)
        report.stopped = "interrupted"
        report.elapsed = time.monotonic() - t0
        raise
    sync(importer.report)
    report.notes.extend(importer.report.notes)
    if not delete:
        report.plan.delete = 0
        report.plan.delete_keys.clear()
    if importer.fatal is None and delete:
        gate = interrupts or NO_GATE
        try:
            with gate.open():
                delete_extra(src, dst, report, prefix=prefix, concurrency=concurrency, on_progress=on_progress)
        except KeyboardInterrupt:
            report.stopped = "interrupted"
            report.elapsed = time.monotonic() - t0
            raise Interrupted("copy interrupted while deleting") from None
    report.elapsed = time.monotonic() - t0
    return report, importer.fatal
