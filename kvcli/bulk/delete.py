"""Delete many keys with bounded concurrency and exact accounting.

Unlike the official CLI, a failed delete is never counted as deleted, listing errors are reported, reaching
``max_errors`` stops cleanly (no worker is left blocked), and nothing deadlocks whatever the number of keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice

from kvcli.api.errors import KvcliError, UsageError


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
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (got {concurrency})", "pass -r 1 or more")
    if max_errors < 1:
        raise UsageError(f"--max-errors must be at least 1 (got {max_errors})", "pass -m 1 or more")


def _guarded(keys: Iterable[str], report: DeleteReport) -> Iterator[str]:
    """Yield keys; a listing failure is recorded in the report instead of being lost."""
    try:
        yield from keys
    except KvcliError as exc:
        report.list_error = exc.message


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

    def record_failure(key: str, exc: Exception) -> None:
        report.failed += 1
        if len(report.errors) < max_errors:
            msg = exc.message if isinstance(exc, KvcliError) else str(exc)
            report.errors.append((key, msg))

    if callable(many):  # the embedded engine deletes a chunk per transaction
        while True:
            chunk = list(islice(source, 500))
            if not chunk:
                break
            if report.failed >= max_errors:
                report.stopped_early = True
                break
            for key, exc in many(store_id, chunk):
                if exc is None:
                    report.deleted += 1
                else:
                    record_failure(key, exc)
            if on_progress:
                on_progress(report)
        return report

    def one(key: str) -> None:
        try:
            api.delete_item(store_id, key, force=True)
        except Exception as exc:  # noqa: BLE001 - every failure is accounted for
            with lock:
                record_failure(key, exc)
        else:
            with lock:
                report.deleted += 1
        if on_progress:
            on_progress(report)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: set[Future] = set()
        for key in source:
            with lock:
                if report.failed >= max_errors:
                    report.stopped_early = True
                    break
            pending.add(pool.submit(one, key))
            if len(pending) >= concurrency * 2:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
        wait(pending)
    return report
