"""The ``local`` adapter: the API port implemented by in-process calls into the embedded engine."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kvcli.api import validation
from kvcli.api.models import (
    BackendLimits,
    BatchEntry,
    BatchResult,
    Item,
    ItemInfo,
    Page,
    PutMode,
    ResourceLink,
    Store,
)
from kvcli.local.engine import Engine

#: one writer, in this process: a batch is one transaction, bigger ones mean fewer fsyncs; parallel requests only queue
LIMITS = BackendLimits(batch_entries=10_000, batch_bytes=32 * 1024 * 1024, max_concurrency=1, atomic_batches=True,
                       wire_lines=False, in_process=True)


class LocalAdapter:
    """No server involved: each call is a SQLite transaction in this process."""

    limits = LIMITS

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.description = f"embedded backend at {engine.path}"

    @classmethod
    def open(cls, data_dir: str | Path) -> LocalAdapter:
        return cls(Engine.in_dir(data_dir))

    def close(self) -> None:
        self.engine.close()

    def __getattr__(self, name: str):
        # service / version / resource-link methods are served by the engine directly
        return getattr(self.engine, name)

    def update_link(
        self, service_id: str, version: int, link_id: str, name: str | None = None, resource_id: str | None = None
    ) -> ResourceLink:
        """As the engine's, except that an update with nothing to change is refused (as over HTTP); the engine itself
        takes it as a no-op, which is what ``local serve`` answers an empty update with."""
        validation.link_update_fields(name, resource_id)
        return self.engine.update_link(service_id, version, link_id, name=name, resource_id=resource_id)

    def create_store(self, name: str, location: str | None = None) -> Store:
        return self.engine.create_store(name, location)

    def list_stores(self, cursor: str | None = None, limit: int | None = None) -> Page[Store]:
        return self.engine.list_stores(cursor=cursor, limit=limit)

    def get_store(self, store_id: str) -> Store:
        return self.engine.get_store(store_id)

    def find_store(self, name: str) -> Store:
        return self.engine.find_store(name)

    def delete_store(self, store_id: str) -> None:
        self.engine.delete_store(store_id)

    def check_store_deletable(self, store_id: str) -> bool:
        return self.engine.check_store_deletable(store_id)

    def put_item(
        self,
        store_id: str,
        key: str,
        value: bytes,
        *,
        metadata: str | None = None,
        ttl: int | None = None,
        mode: PutMode = PutMode.UPSERT,
        if_generation_match: int | None = None,
        background_fetch: bool = False,
    ) -> int | None:
        return self.engine.put_item(
            store_id,
            key,
            value,
            metadata=metadata,
            ttl=ttl,
            mode=mode,
            if_generation_match=if_generation_match,
            background_fetch=background_fetch,
        )

    def get_item(self, store_id: str, key: str) -> Item:
        return self.engine.get_item(store_id, key)

    def describe_item(self, store_id: str, key: str) -> ItemInfo:
        return self.engine.describe_item(store_id, key)

    def list_keys(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[str]:
        return self.engine.list_keys(store_id, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)

    def list_items(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
        *,
        concurrency: int | None = None,
    ) -> Page[ItemInfo]:
        """One SQL query per page (``concurrency`` has nothing to do here)."""
        return self.engine.list_items(store_id, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)

    def delete_item(
        self, store_id: str, key: str, *, force: bool = False, if_generation_match: int | None = None
    ) -> None:
        self.engine.delete_item(store_id, key, force=force, if_generation_match=if_generation_match)

    def put_batch(self, store_id: str, entries: Iterable[BatchEntry]) -> BatchResult:
        return self.engine.put_batch(store_id, entries)
