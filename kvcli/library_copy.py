"""``kvcli.copy()`` and ``kvcli.diff()``: move data between two stores of any two connections (docs/copy.md).

Both run :mod:`kvcli.bulk.copy` / :mod:`kvcli.bulk.diff`, as ``kvcli kv-store copy`` and ``kv-store diff`` do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from kvcli.api.errors import Interrupted, InvalidInput, KvcliError, NotFound, PartialFailure
from kvcli.api.errors import add_facts as _facts

if TYPE_CHECKING:
    from kvcli.bulk.copy_report import CopyReport, Side
    from kvcli.bulk.diff import DiffRun
    from kvcli.library import KV
    from kvcli.library_store import Store

__all__ = ["copy", "diff"]


def _target_id(kv: KV) -> str:
    target = kv.target
    if target.kind == "local":
        return f"local:{os.path.realpath(str(target.data_dir))}"
    return f"http:{target.endpoint}"


def _side(store: Store) -> Side:
    from kvcli.bulk.copy_report import Side

    where = "embedded backend" if store.kv.local else "Fastly API"
    return Side(store.kv.api, store.id, f"KV store {store.name!r} ({where})", _target_id(store.kv))


def _check_prefix(prefix: str | None) -> None:
    if prefix is not None and (not isinstance(prefix, str) or not prefix):
        raise InvalidInput(f"prefix= must be a non-empty string or None (got {prefix!r})")


def copy(
    src: Store,
    dst: Store | tuple[KV, str],
    prefix: str | None = None,
    create: bool = False,
    delete: bool = False,
    dry_run: bool = False,
    concurrency: int = 16,
    resume: bool = False,
    on_progress: Callable[[CopyReport], None] | None = None,
) -> CopyReport:
    """Copy every key of ``src`` (under ``prefix``) with its value, metadata and remaining TTL into ``dst``, writing
    only the keys that are missing there or differ; ``src`` and ``dst`` may be on different connections.

    ``dst`` is a :class:`~kvcli.Store`, or ``(kv, name_or_id)`` for a store that may not exist yet: with
    ``create=True`` it is created (in the source's location). ``delete=True`` also deletes the destination's keys
    (under ``prefix``) that the source lacks. ``dry_run=True`` compares and writes nothing: the report's ``plan``
    says what would be created, updated, left unchanged and deleted, and ``write_requests`` /
    ``delete_requests`` how many write requests that takes. ``concurrency`` bounds the reads in flight over HTTP.
    ``resume=True`` continues an interrupted copy of the same stores and prefix (the journal is the destination
    connection's, shared with the CLI). ``on_progress`` is called with the running report.

    Raises PartialFailure (``.report``) when some keys failed, the error that stopped the copy otherwise, and lets a
    KeyboardInterrupt propagate once what was acknowledged is recorded.
    """
    from kvcli.bulk.copy import run_copy
    from kvcli.bulk.journal import Journal
    from kvcli.library_store import Store

    _check_prefix(prefix)
    if not isinstance(src, Store):
        raise InvalidInput(f"src must be a kvcli.Store (got {type(src).__name__})",
                           "get one with kv.store, by name or ID")
    created = False
    if isinstance(dst, Store):
        dst_kv, dst_store = dst.kv, dst
    elif isinstance(dst, tuple) and len(dst) == 2 and isinstance(dst[1], str):
        dst_kv, name = dst
        try:
            dst_store = dst_kv.store(name)
        except NotFound:
            if dry_run:  # a dry run of a copy into a store that does not exist yet: everything would be created
                from kvcli.bulk.copy_report import CopyReport, Side

                side = Side(dst_kv.api, "", f"KV store {name!r} (not created yet)", _target_id(dst_kv))
                report, _ = run_copy(_side(src), side, prefix=prefix, delete=delete, dry_run=True,
                                     concurrency=concurrency, dst_exists=False, on_progress=on_progress,
                                     report=CopyReport(created_store=True))
                return report
            if not create:
                raise NotFound(f"no KV store named {name!r} or with that ID on the destination",
                               "pass create=True to create it") from None
            dst_store = dst_kv.create_store(name, src.location)
            created = True
    else:
        raise InvalidInput(f"dst must be a kvcli.Store or (kv, name) (got {type(dst).__name__})")
    s, d = _side(src), _side(dst_store)
    if s.target_id == d.target_id and s.store_id == d.store_id:
        raise InvalidInput("the source and the destination are the same store", "copy into another store")
    journal = state = None
    if not dry_run:
        journal = Journal.for_input(target=d.target_id, store_id=d.store_id, fmt="copy",
                                    identity={"from": s.target_id, "store": s.store_id, "prefix": prefix or ""},
                                    directory=dst_kv._journal_dir)
        if resume and journal.exists():
            state = journal.load()
            journal.resume()
        else:
            journal.start()
    from kvcli.bulk.copy_report import CopyReport

    report = CopyReport(created_store=created)
    try:
        report, fatal = run_copy(s, d, prefix=prefix, delete=delete, dry_run=dry_run, concurrency=concurrency,
                                 journal=journal, resume_state=state, on_progress=on_progress,
                                 max_value_bytes=dst_kv.settings.max_value_bytes, report=report)
    except Interrupted as exc:
        raise KeyboardInterrupt from exc
    finally:
        if journal is not None:
            journal.close()
    if resume and state is None and not dry_run:
        report.notes.append("no interrupted copy of these stores to resume: every key was compared")
    if fatal is not None:
        fatal.message = f"copy stopped: {fatal.message} ({report.written} keys were written before it stopped)"
        _facts(fatal, "copy", d.store_id)
        raise fatal
    if not report.ok:
        failure = PartialFailure(
            f"copy incomplete: {report.failed + report.delete_failed} keys failed"
            + (f"; stopped early: {report.stopped}" if report.stopped else ""),
            "see report.errors, and run the copy again: it writes only what still differs",
            summary=report.to_json(), report=report)
        _facts(failure, "copy", d.store_id)
        raise failure
    return report


def diff(a: Store, b: Store, prefix: str | None = None, keys_only: bool = False, concurrency: int = 16) -> DiffRun:
    """The differences between two stores (under ``prefix``), on any two connections, as an iterator of
    :class:`~kvcli.bulk.diff.Difference` (``key``, ``status``: ``only_in_from``/``only_in_to``/``differs``,
    ``what``: ``value``, ``metadata``, ``ttl``) produced as the two sorted listings are merged: memory stays flat.
    ``keys_only=True`` compares the key sets only (no value read). After the iteration (or ``.finish()``),
    ``.counts`` holds the totals and ``.identical`` says whether they match."""
    from kvcli.bulk.diff import DiffRun
    from kvcli.library_store import Store

    _check_prefix(prefix)
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, Store):
            raise InvalidInput(f"{name} must be a kvcli.Store (got {type(s).__name__})",
                               "get one with kv.store, by name or ID")
    try:
        return DiffRun(_side(a), _side(b), prefix=prefix, keys_only=keys_only, concurrency=concurrency)
    except KvcliError as exc:
        _facts(exc, "diff")
        raise
