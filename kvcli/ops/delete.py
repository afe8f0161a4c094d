"""Bulk delete as an operation: a :class:`DeleteRequest` in, a :class:`~kvcli.bulk.delete.DeleteReport` out.

The keys are listed as the deletion goes (every key, or those under a prefix) unless the request names them. On a
backend that deletes a chunk per transaction (the embedded engine) the chunks go one at a time; otherwise up to
``concurrency`` deletions run at once, capped by the backend's declared limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from kvcli.api.port import iter_keys, limits_of
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.bulk.delete import DeleteReport

DEFAULT_CONCURRENCY = 100
DEFAULT_MAX_ERRORS = 100


@dataclass(frozen=True, kw_only=True)
class DeleteRequest:
    """Which keys to delete: ``keys``, else every key under ``prefix`` (None: every key of the store).
    ``max_errors``: stop once that many deletions failed (the keys not attempted remain)."""

    prefix: str | None = None
    keys: Iterable[str] | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_errors: int = DEFAULT_MAX_ERRORS


def listed_keys(api: KVApi, store_id: str, prefix: str | None) -> Iterator[str]:
    """Every key under ``prefix``, listed a page at a time as the iteration goes."""
    for page in iter_keys(api, store_id, prefix=prefix):
        yield from page.items


def run_delete(
    api: KVApi, store_id: str, request: DeleteRequest, *, on_progress: Callable[[DeleteReport], None] | None = None
) -> DeleteReport:
    """Delete the request's keys; the report says exactly what was deleted and what failed (nothing is raised for a
    key that could not be deleted, or a listing that failed part-way: both are in the report)."""
    from kvcli.bulk.delete import check_limits, delete_keys

    check_limits(request.concurrency, request.max_errors)
    keys = request.keys if request.keys is not None else listed_keys(api, store_id, request.prefix)
    return delete_keys(api, store_id, keys, concurrency=limits_of(api).concurrency(request.concurrency),
                       max_errors=request.max_errors, on_progress=on_progress)
