"""Rendering around :func:`kvcli.bulk.delete.delete_keys`: progress on stderr, a summary line, error list."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from kvcli.api.port import iter_keys
from kvcli.bulk.delete import DeleteReport, delete_keys
from kvcli.cli.numbers import count, num
from kvcli.cli.state import State, err, message


def list_all_keys(api, store_id: str, prefix: str | None) -> Iterator[str]:
    for page in iter_keys(api, store_id, prefix=prefix):
        yield from page.items


def run_bulk_delete(
    api, store_id: str, prefix: str | None, *, concurrency: int, max_errors: int, json_out: bool
) -> DeleteReport:
    state = State.current()
    show_progress = not state.quiet and not json_out and sys.stderr.isatty()
    last = [0]

    def progress(report: DeleteReport) -> None:
        done = report.deleted + report.failed
        if show_progress and done - last[0] >= 100:
            last[0] = done
            sys.stderr.write(f"\rDeleting keys… {num(report.deleted)} deleted, {num(report.failed)} failed")
            sys.stderr.flush()

    report = delete_keys(
        api,
        store_id,
        list_all_keys(api, store_id, prefix),
        concurrency=concurrency,
        max_errors=max_errors,
        on_progress=progress,
    )
    if show_progress:
        sys.stderr.write("\r\x1b[K")
    if not json_out:
        for key, msg in report.errors:
            err(f"failed: {key!r}: {msg}")
        if report.list_error:
            err(f"listing failed: {report.list_error}")
        if report.stopped_early:
            err(f"stopped after {count(report.failed, 'failure')} (--max-errors {max_errors}); remaining keys were "
                "not deleted")
        message(f"Deleted keys: {num(report.deleted)}, failed: {num(report.failed)}")
    return report
