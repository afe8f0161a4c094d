"""The KV API port: one protocol, implemented by the embedded (``local``) and Fastly HTTP (``http``) adapters.

Both adapters have the same semantics; the contract tests in ``tests/contract`` run against each of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from kvcli.api.models import BatchEntry, BatchResult, Item, ItemInfo, Page, PutMode, Store


@runtime_checkable
class KVApi(Protocol):
    #: a short human description of where requests go, e.g. "embedded backend at ~/.local/share/kvcli/kvcli.db"
    description: str

    def close(self) -> None: ...

    # stores
    def create_store(self, name: str, location: str | None = None) -> Store: ...
    def list_stores(self, cursor: str | None = None, limit: int | None = None) -> Page[Store]: ...
    def get_store(self, store_id: str) -> Store: ...
    def find_store(self, name: str) -> Store: ...
    def delete_store(self, store_id: str) -> None: ...

    # items
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
    ) -> None: ...
    def get_item(self, store_id: str, key: str) -> Item: ...
    def describe_item(self, store_id: str, key: str) -> ItemInfo: ...
    def list_keys(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[str]: ...
    def delete_item(
        self, store_id: str, key: str, *, force: bool = False, if_generation_match: int | None = None
    ) -> None: ...
    def put_batch(self, store_id: str, entries: Iterable[BatchEntry]) -> BatchResult: ...


def iter_stores(api: KVApi) -> Iterator[Store]:
    """Every store, following cursors until there are no more pages."""
    cursor: str | None = None
    while True:
        page = api.list_stores(cursor=cursor)
        yield from page.items
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def iter_keys(
    api: KVApi,
    store_id: str,
    prefix: str | None = None,
    cursor: str | None = None,
    page_size: int | None = None,
    consistency: str = "strong",
) -> Iterator[Page[str]]:
    """Pages of keys, following cursors until ``next_cursor`` is absent or empty."""
    while True:
        page = api.list_keys(store_id, prefix=prefix, cursor=cursor, limit=page_size, consistency=consistency)
        yield page
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor
