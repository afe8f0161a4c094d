"""Copy one store (or a prefix of it) into another, on any two backends, writing only what differs.

The pipeline is the import's (:mod:`kvcli.bulk.importer`): batches cut by count and bytes, several in flight over
HTTP, per-key accounting, 413 splitting, retries in the HTTP adapter, the resume journal. Only the source is new:
:class:`CopySource` merges the two stores' sorted key listings (:mod:`kvcli.bulk.compare`), reads each source key
(and the destination's copy of it, when there is one) with bounded concurrency, in key order, and yields an
:class:`~kvcli.bulk.records.Entry` for every key that is missing or differs. Keys that already match are counted and
never written. From the embedded engine, the source is read a page of rows (values included) per query instead,
and each row becomes its record and batch line directly (:mod:`kvcli.bulk.copy_rows`); the records are checked in
the source, so the pipeline (:class:`~kvcli.bulk.copy_pipeline.CopyImporter`) does not validate them again.

* Ordinals are positions in the source's key listing (under the prefix), so a resumed copy skips the keys an
  interrupted one had acknowledged without comparing or writing them (nor, over HTTP, reading them); the last key
  of every acknowledged batch is checked against the listing, and a source that changed refuses ``resume`` rather
  than skipping the wrong keys.
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

from kvcli.api.errors import KvcliError, NotFound, UsageError
from kvcli.api.port import limits_of
from kvcli.bulk import batching
from kvcli.bulk.compare import is_embedded, listed, merge
from kvcli.bulk.copy_report import PLAN_KEYS, CopyReport, Plan, Side, SourceChanged  # noqa: F401 - re-exported
from kvcli.bulk.copy_source import (  # noqa: F401 - re-exported
    FATAL_READ,
    GROUP,
    READ_CONCURRENCY,
    CopySource,
    TtlAtWrite,
    batch_line,
)
from kvcli.bulk.journal import ResumeState

WRITE_CONCURRENCY = 4
DELETE_MAX_ERRORS = 100


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
              ) -> None:
    """A dry run: compare everything and count the write requests the plan needs; write nothing."""
    report = source.report
    max_entries, max_bytes, _ = write_limits(dst_api)
    invalid = 0
    for chunk in batching.batches(source.records(),
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
    from kvcli.bulk.copy_pipeline import CopyImporter
    from kvcli.bulk.importer import ImportOptions
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
                        resume=resume_state, dst_exists=dst_exists, expiry=None if dry_run else sink.expiry,
                        max_value_bytes=max_value_bytes)
    if dry_run:
        plan_only(source, dst.api, delete=delete, on_progress=on_progress)
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

    importer = CopyImporter(sink, dst.store_id, source, options=options, journal=journal, failed_out=failed_out,
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
