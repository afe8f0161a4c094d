"""Sync as an operation: make a store match a directory. A :class:`SyncRequest` in; :func:`plan_sync` compares
(changing nothing), :func:`upload` and :func:`delete_unwanted` carry the plan out, each returning its report.

Changes are found without downloading values: each uploaded value's SHA-256 is kept in its metadata
(:mod:`kvcli.bulk.sync`). Requests in flight are capped by the backend's declared limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kvcli.api.errors import InvalidInput
from kvcli.api.port import limits_of
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.bulk.delete import DeleteReport
    from kvcli.bulk.importer import ImportReport
    from kvcli.bulk.sync import LocalFile, Plan, PlannedUploads

DEFAULT_CONCURRENCY = 4
#: comparing and deleting are single small requests: this many times the upload concurrency run at once
SMALL_REQUESTS_FACTOR = 4


@dataclass(frozen=True, kw_only=True)
class SyncRequest:
    """The directory the store should match, the key ``prefix`` it maps to, and whether keys (under the prefix)
    without a file are deleted."""

    directory: str
    prefix: str = ""
    delete: bool = False
    allow_hidden: bool = False
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass
class SyncPlan:
    """What a sync would do (``plan``: add, update, delete, unchanged, unreadable…) and the files it read."""

    request: SyncRequest
    plan: Plan
    files: dict[str, LocalFile]

    def uploads(self) -> PlannedUploads:
        """The files to add or update, as an import source."""
        from kvcli.bulk.sync import PlannedUploads

        return PlannedUploads(self.request.directory, self.plan.add + self.plan.update, self.files)


def plan_sync(api: KVApi, store_id: str, request: SyncRequest) -> SyncPlan:
    """Compare the directory with the store; change nothing."""
    from kvcli.bulk.sync import make_plan

    if request.concurrency < 1:
        raise InvalidInput(f"concurrency must be at least 1 (got {request.concurrency})", reason="not_positive",
                           facts={"field": "concurrency", "value": request.concurrency})
    plan, files = make_plan(
        api, store_id, request.directory, prefix=request.prefix, delete=request.delete,
        allow_hidden=request.allow_hidden,
        concurrency=limits_of(api).concurrency(request.concurrency * SMALL_REQUESTS_FACTOR),
    )
    return SyncPlan(request, plan, files)


def upload(
    api: KVApi, store_id: str, planned: SyncPlan, source: PlannedUploads | None = None, *,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Upload what the plan adds or updates (``source``: its :meth:`SyncPlan.uploads`, made here if not given), in
    batches sized by the backend's limits; the report. An error that stops the upload is raised."""
    from kvcli.bulk.importer import Importer, ImportOptions

    limits = limits_of(api)
    importer = Importer(
        api, store_id, source if source is not None else planned.uploads(),
        options=ImportOptions(
            max_entries=limits.batch_entries,
            max_bytes=limits.batch_bytes,
            concurrency=limits.concurrency(planned.request.concurrency),
            encode_lines=limits.wire_lines,
        ),
        on_progress=on_progress,
    )
    report = importer.run()
    if importer.fatal is not None:
        raise importer.fatal
    return report


def delete_unwanted(api: KVApi, store_id: str, planned: SyncPlan) -> DeleteReport:
    """Delete the keys the plan deletes (every failure is in the report)."""
    from kvcli.ops.delete import DeleteRequest, run_delete

    keys = planned.plan.delete
    return run_delete(api, store_id, DeleteRequest(
        keys=iter(keys), concurrency=planned.request.concurrency * SMALL_REQUESTS_FACTOR,
        max_errors=max(1, len(keys)),
    ))
