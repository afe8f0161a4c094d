"""The KV API port: one protocol, implemented by the embedded (``local``) and Fastly HTTP (``http``) adapters.

Both adapters have the same semantics; the contract tests in ``tests/contract`` run against each of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from kvcli.api.models import (
    BackendLimits,
    BatchEntry,
    BatchResult,
    Item,
    ItemInfo,
    Page,
    PutMode,
    ResourceLink,
    Service,
    Store,
    Version,
)


@runtime_checkable
class KVApi(Protocol):
    #: a short human description of where requests go, e.g. "embedded backend at ~/.local/share/kvcli/kvcli.db"
    description: str
    #: what the backend can take and prefers (batch sizes, requests in flight, atomic batches): the bulk operations
    #: (:mod:`kvcli.ops`) size their work from it instead of asking which adapter this is
    limits: BackendLimits

    def close(self) -> None: ...

    # stores
    def create_store(self, name: str, location: str | None = None) -> Store: ...
    def list_stores(self, cursor: str | None = None, limit: int | None = None) -> Page[Store]: ...
    def get_store(self, store_id: str) -> Store: ...
    def find_store(self, name: str) -> Store: ...
    def delete_store(self, store_id: str) -> None: ...
    def check_store_deletable(self, store_id: str) -> bool:
        """Raise what ``delete_store`` would raise once the store is empty (``NotFound``; ``Conflict`` when a service
        version links it), deleting nothing. True when every such reason was checked, False when the backend cannot
        tell cheaply (Fastly: only the delete itself checks the links)."""
        ...

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
    ) -> int | None: ...  # the new generation when the backend tells it (the embedded engine does)
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
        """One page of keys as ``list_keys`` pages them (same cursor), each with what ``describe_item`` says.

        Keys deleted between the listing and the describe are left out (the page may hold fewer than ``limit``).
        The default, :func:`list_items_by_describe`, lists the keys and describes them with at most ``concurrency``
        requests in flight; the embedded engine reads a page in one query (and ignores ``concurrency``).
        """
        ...
    def delete_item(
        self, store_id: str, key: str, *, force: bool = False, if_generation_match: int | None = None
    ) -> None: ...
    def put_batch(self, store_id: str, entries: Iterable[BatchEntry]) -> BatchResult: ...


@runtime_checkable
class ServicesApi(Protocol):
    """Services, their versions, and the resource links that attach KV stores to a version.

    Unknown service, version or link → ``NotFound``; changing the links of an active or locked version →
    ``VersionLocked`` (422); a duplicate link name within one version → ``Conflict`` (409); a ``resource_id`` that
    is not an existing KV store → ``NotFound``.
    """

    # services
    def create_service(self, name: str, type: str = "wasm", comment: str = "") -> Service: ...
    def list_services(self) -> list[Service]: ...
    def get_service(self, service_id: str) -> Service: ...
    def find_service(self, name: str) -> Service: ...
    def update_service(self, service_id: str, name: str | None = None, comment: str | None = None) -> Service:
        """Rename and/or re-comment (None: unchanged; neither given: ``InvalidInput``)."""
        ...
    def delete_service(self, service_id: str) -> None:
        """A service deleted before: ``InvalidInput`` (Fastly's 400 "Service '…' is deleted")."""
        ...

    # versions
    def list_versions(self, service_id: str) -> list[Version]: ...
    def get_version(self, service_id: str, number: int) -> Version: ...
    def create_version(self, service_id: str, comment: str = "") -> Version: ...
    def update_version(self, service_id: str, number: int, comment: str) -> Version:
        """Change an editable version's comment (active or locked: ``VersionLocked``)."""
        ...
    def clone_version(self, service_id: str, number: int) -> Version: ...
    def activate_version(self, service_id: str, number: int) -> Version: ...
    def deactivate_version(self, service_id: str, number: int) -> Version: ...
    def lock_version(self, service_id: str, number: int) -> Version: ...
    def active_version(self, service_id: str) -> Version | None: ...
    def staged_version(self, service_id: str) -> Version | None: ...

    # resource links
    def create_link(self, service_id: str, version: int, resource_id: str, name: str | None = None) -> ResourceLink: ...
    def list_links(self, service_id: str, version: int) -> list[ResourceLink]: ...
    def get_link(self, service_id: str, version: int, link_id: str) -> ResourceLink: ...
    def update_link(
        self, service_id: str, version: int, link_id: str, name: str | None = None, resource_id: str | None = None
    ) -> ResourceLink: ...
    def delete_link(self, service_id: str, version: int, link_id: str) -> None: ...


#: what a port that declares no ``limits`` (a wrapper, a test double) is taken to be: a remote API
DEFAULT_LIMITS = BackendLimits()


def limits_of(api: object) -> BackendLimits:
    """The limits ``api`` declares (``DEFAULT_LIMITS`` when it declares none)."""
    limits = getattr(api, "limits", None)
    return limits if isinstance(limits, BackendLimits) else DEFAULT_LIMITS


def iter_stores(api: KVApi, page_size: int | None = None) -> Iterator[Store]:
    """Every store, following cursors until there are no more pages (of ``page_size`` stores, else the default)."""
    cursor: str | None = None
    while True:
        page = api.list_stores(cursor=cursor, limit=page_size)
        yield from page.items
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def list_items_by_describe(
    api: KVApi,
    store_id: str,
    prefix: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    consistency: str = "strong",
    *,
    concurrency: int | None = None,
) -> Page[ItemInfo]:
    """The default ``list_items``: one ``list_keys`` page, then a ``describe_item`` per key, ``concurrency`` at once
    (default 16), in key order. A key that is gone by then (NotFound) is skipped; any other error is raised."""
    from kvcli.api.errors import NotFound
    from kvcli.api.fanout import DEFAULT_CONCURRENCY, ordered_map

    page = api.list_keys(store_id, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)
    infos: list[ItemInfo] = []
    for _key, got in ordered_map(
        lambda k: api.describe_item(store_id, k), page.items, concurrency or DEFAULT_CONCURRENCY
    ):
        if isinstance(got, NotFound):
            continue  # deleted since it was listed
        if isinstance(got, Exception):
            raise got
        infos.append(got)
    return Page(items=infos, next_cursor=page.next_cursor)


def iter_item_pages(
    api: KVApi,
    store_id: str,
    prefix: str | None = None,
    cursor: str | None = None,
    page_size: int | None = None,
    consistency: str = "strong",
    concurrency: int | None = None,
) -> Iterator[Page[ItemInfo]]:
    """Pages of :class:`ItemInfo` (``list_items``), following cursors as :func:`iter_keys` does."""
    while True:
        page = api.list_items(
            store_id, prefix=prefix, cursor=cursor, limit=page_size, consistency=consistency, concurrency=concurrency
        )
        yield page
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
