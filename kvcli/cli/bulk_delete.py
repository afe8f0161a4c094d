"""Rendering around the bulk delete operation (:func:`kvcli.ops.delete.run_delete`): the flags checked, progress on
stderr, a summary line, the error list."""

from __future__ import annotations

from kvcli.api.errors import UsageError
from kvcli.bulk.delete import DeleteReport
from kvcli.cli.numbers import count, num
from kvcli.cli.state import State
from kvcli.ops.delete import DeleteRequest, run_delete


def check_delete_flags(concurrency: int, max_errors: int) -> None:
    """``--concurrency``/``-r`` and ``--max-errors``/``-m`` of the deleting commands."""
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (got {concurrency})", "pass -r 1 or more")
    if max_errors < 1:
        raise UsageError(f"--max-errors must be at least 1 (got {max_errors})", "pass -m 1 or more")


def run_bulk_delete(
    state: State,
    api, store_id: str, prefix: str | None, *, concurrency: int, max_errors: int, json_out: bool
) -> DeleteReport:
    out = state.out
    show_progress = not state.quiet and not json_out and out.stderr.isatty()
    last = [0]

    def progress(report: DeleteReport) -> None:
        done = report.deleted + report.failed
        if show_progress and done - last[0] >= 100:
            last[0] = done
            out.stderr.write(f"\rDeleting keys… {num(report.deleted)} deleted, {num(report.failed)} failed")
            out.stderr.flush()

    report = run_delete(api, store_id, DeleteRequest(prefix=prefix, concurrency=concurrency, max_errors=max_errors),
                        on_progress=progress)
    if show_progress:
        out.stderr.write("\r\x1b[K")
    if not json_out:
        for key, msg in report.errors:
            out.err(f"failed: {key!r}: {msg}")
        if report.list_error:
            out.err(f"listing failed: {report.list_error}")
        if report.stopped_early:
            out.err(f"stopped after {count(report.failed, 'failure')} (--max-errors {max_errors}); remaining keys were "
                    "not deleted")
        out.message(f"Deleted keys: {num(report.deleted)}, failed: {num(report.failed)}")
    return report
