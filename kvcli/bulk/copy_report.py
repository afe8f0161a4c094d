"""What a copy is about and what it reports: the two sides (:class:`Side`), a dry run's :class:`Plan`, the
:class:`CopyReport`, and the refusal to resume when the source changed (:class:`SourceChanged`). See
:mod:`kvcli.bulk.copy`."""

from __future__ import annotations

from typing import Any

from kvcli.api.errors import UsageError
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

#: keys of each kind a dry-run plan lists (the counts are always exact)
PLAN_KEYS = 1000


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
