"""Delete many keys with bounded concurrency and exact accounting.

Unlike the official CLI, a failed delete is never counted as deleted, listing errors are reported, reaching
``max_errors`` stops cleanly (no worker is left blocked), and nothing deadlocks whatever the number of keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from kvcli.api.errors import KvcliError, UsageError
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time
from kvcli.threads import FIRST_COMPLETED, Future, wait, worker_pool

CHUNK = 500  # keys per transaction on the embedded backend


@dataclass
class DeleteReport:
    deleted: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, message), at most max_errors kept
    stopped_early: bool = False  # max_errors reached: keys may remain
    list_error: str | None = None  # listing failed part-way

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.list_error is None and not self.stopped_early

    def to_json(self) -> dict:
        return {
            "deleted": self.deleted,
            "failed": self.failed,
            "complete": self.ok,
            "stopped_early": self.stopped_early,
            "list_error": self.list_error,
            "errors": [{"key": k, "error": m} for k, m in self.errors],
        }


def check_limits(concurrency: int, max_errors: int) -> None:
    for name, value in (("concurrency", concurrency), ("max_errors", max_errors)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1 (got {value})", reason="not_positive",
                             facts={"field": name, "value": value})


def _message(exc: BaseException) -> str:
    if isinstance(exc, KvcliError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _guarded(keys: Iterable[str], report: DeleteReport) -> Iterator[str]:
    """Yield keys; a listing failure (of any kind) is recorded in the report instead of being lost."""
    try:
        yield from keys
    except Exception as exc:  # noqa: BLE001 - reported, never ignored
        report.list_error = _message(exc)


def delete_keys(
    api,
    store_id: str,
    keys: Iterable[str],
    *,
    concurrency: int = 100,
    max_errors: int = 100,
    on_progress: Callable[[DeleteReport], None] | None = None,
) -> DeleteReport:
    """Delete every key of ``keys`` (an iterator that may list lazily) and report exactly what happened."""
    check_limits(concurrency, max_errors)
    report = DeleteReport()
    lock = threading.Lock()
    source = _guarded(keys, report)
    many = getattr(api, "delete_many", None)

    def record_failure(key: str, exc: BaseException) -> None:
        report.failed += 1
        if len(report.errors) < max_errors:
            report.errors.append((key, _message(exc)))

    def limit_reached() -> bool:
        """True (and the report says it stopped early) once --max-errors failures are in; the caller holds the lock
        where threads share the report."""
        reached = report.failed >= max_errors
        if reached:
            report.stopped_early = True
        return reached

    if callable(many):  # the embedded engine deletes a chunk per transaction
        while True:
            chunk = list(islice(source, CHUNK))
            if not chunk:
                break
            if limit_reached():
                break
            try:
                results = many(store_id, chunk)
            except Exception as chunk_exc:  # noqa: BLE001 - the chunk's transaction was rolled back: none deleted
                results = [(key, chunk_exc) for key in chunk]
            for key, exc in results:
                if exc is None:
                    report.deleted += 1
                else:
                    record_failure(key, exc)
            if on_progress:
                on_progress(report)
        return report

    def one(key: str) -> None:
        with lock:
            if limit_reached():  # reached while this one waited for a thread: it is not started
                return
        try:
            api.delete_item(store_id, key, force=True)
        except Exception as exc:  # noqa: BLE001 - every failure is accounted for
            with lock:
                record_failure(key, exc)
                if on_progress:
                    on_progress(report)
        else:
            with lock:
                report.deleted += 1
                if on_progress:
                    on_progress(report)

    # The listing runs in this thread and at most 2 x concurrency deletions are in flight, so memory stays flat
    # and no thread ever waits on a queue that nobody drains (the official CLI's deadlock).
    with worker_pool(concurrency, "kvcli-delete") as pool:
        pending: set[Future] = set()
        try:
            for key in source:
                with lock:
                    if limit_reached():
                        break
                pending.add(pool.submit(one, key))
                if len(pending) >= concurrency * 2:
                    _done, pending = wait(pending, return_when=FIRST_COMPLETED)
        except BaseException:  # Ctrl-C: do not start the deletions still queued
            for fut in pending:
                fut.cancel()
            raise
        wait(pending)
    return report
