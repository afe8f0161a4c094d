"""The ``http`` adapter: the KV API port over Fastly's HTTP API (api.fastly.com, or ``kvcli local serve``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kvcli.api import validation
from kvcli.api.errors import Conflict, InvalidInput, NotFound
from kvcli.api.http.batch import BatchHttpMixin
from kvcli.api.http.client import FastlyHttp
from kvcli.api.http.failures import ErrorContext
from kvcli.api.http.kv_helpers import (
    STORE_LIST_HINT,
    STORES,
    TRUE,
    _check_generation,
    _check_header_metadata,
    _http_date,
    _int_header,
    _item_context,
    _page_fields,
    _store,
    _store_context,
)
from kvcli.api.http.services import ServicesHttpMixin
from kvcli.api.models import (
    BackendLimits,
    Item,
    ItemInfo,
    Page,
    PutMode,
    Store,
)
from kvcli.api.wire import (
    CT_OCTET,
    DELETE_CHECK_ASK,
    DELETE_CHECK_OK,
    H_DELETE_CHECK,
    H_EXPIRES,
    H_GENERATION,
    H_IF_GENERATION_MATCH,
    H_LAST_MODIFIED,
    H_METADATA,
    H_STORED_LENGTH,
    H_TTL,
    KEYS_SEGMENT,
    Q_ADD,
    Q_APPEND,
    Q_BACKGROUND_FETCH,
    Q_FORCE,
    Q_PREPEND,
)

#: the NDJSON batch endpoint: well under what Fastly documents or was seen to accept; each entry succeeds or fails on
#: its own; requests in parallel help (the caller chooses how many)
LIMITS = BackendLimits(batch_entries=1000, batch_bytes=8 * 1024 * 1024, max_concurrency=None, atomic_batches=False,
                       wire_lines=True)


class HttpAdapter(ServicesHttpMixin, BatchHttpMixin, FastlyHttp):
    """Every KV-store, KV-item and batch endpoint of the Fastly API. See docs/http.md."""

    limits = LIMITS

    _head_supported: bool | None = None  # learned on the first describe_item
    #: describe requests in flight in ``list_items`` when the caller does not say (the API has no bulk describe)
    describe_concurrency: int = 16

    # ------------------------------------------------------------------------------------------------- stores
    def create_store(self, name: str, location: str | None = None) -> Store:
        validation.check_store_name(name)
        validation.check_location(location)
        # Not retried once it may have reached the server: a repeat of a create that did happen would be refused
        # as a duplicate name and hide the success (see docs/http.md).
        resp = self._request(
            "POST",
            STORES,
            params={"location": location} if location else None,
            json={"name": name},
            retry_safe=False,
            context=ErrorContext(hints={400: "store names must be unique; see 'kvcli kv-store list'"}),
        )
        return _store(self.decode_json(resp), location)

    def list_stores(self, cursor: str | None = None, limit: int | None = None) -> Page[Store]:
        if limit is not None and limit < 1:
            raise InvalidInput("limit must be at least 1")
        params = {"cursor": cursor or None, "limit": str(limit) if limit is not None else None}
        data, next_cursor, total = _page_fields(self._request_json("GET", STORES, params=params))
        return Page(items=[_store(s) for s in data], next_cursor=next_cursor, total=total)

    def get_store(self, store_id: str) -> Store:
        self._check_store_id(store_id)
        return _store(self._request_json("GET", (*STORES, store_id), context=_store_context(store_id)))

    def find_store(self, name: str) -> Store:
        """The store named exactly ``name`` (the API's ``name=`` filter, checked; paging if it is ignored)."""
        doc = self._request_json("GET", STORES, params={"name": name})
        data, next_cursor, _ = _page_fields(doc)
        stores = [_store(s) for s in data]
        for s in stores:
            if s.name == name:
                return s
        if stores:  # the server ignored the filter (or matched loosely): look through every store
            for s in self._stores_from(next_cursor):
                if s.name == name:
                    return s
        raise NotFound(f"no KV store named {name!r}", "run 'kvcli kv-store list' to see the store names")

    def _stores_from(self, cursor: str | None):
        if cursor is None:
            return
        while True:
            page = self.list_stores(cursor=cursor)
            yield from page.items
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    def rename_store(self, store_id: str, name: str) -> Store:
        self._check_store_id(store_id)
        validation.check_store_name(name)
        resp = self._request(
            "PUT", (*STORES, store_id), json={"name": name}, retry_safe=True, context=_store_context(store_id)
        )
        doc = self.decode_json(resp)
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            return _store(doc)
        return self.get_store(store_id)  # the documented answer has no body

    def delete_store(self, store_id: str) -> None:
        self._check_store_id(store_id)
        try:
            self._request(
                "DELETE",
                (*STORES, store_id),
                context=_store_context(store_id, conflict=f"KV store {store_id!r} is not empty"),
            )
        except Conflict as exc:
            if "linked" in exc.detail.lower():  # kvcli local serve: still linked from a service version
                exc.hint = "unlink it first with 'kvcli resource-link delete'; the message names the link"
            raise

    def check_store_deletable(self, store_id: str) -> bool:
        """GET the store asking for kvcli's delete pre-check (see wire.H_DELETE_CHECK): ``kvcli local serve`` answers
        409 for a linked store, or says it checked; Fastly ignores the header, so False: links were not checked."""
        self._check_store_id(store_id)
        try:
            resp = self._request(
                "GET",
                (*STORES, store_id),
                headers={H_DELETE_CHECK: DELETE_CHECK_ASK},
                context=_store_context(store_id),
            )
        except Conflict as exc:
            if "linked" in exc.detail.lower():
                exc.hint = "unlink it first with 'kvcli resource-link delete'; the message names the link"
            raise
        return resp.headers.get(H_DELETE_CHECK) == DELETE_CHECK_OK

    @staticmethod
    def _check_store_id(store_id: str) -> None:
        if not store_id:
            raise NotFound("KV store '' not found", STORE_LIST_HINT)

    # -------------------------------------------------------------------------------------------------- items
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
    ) -> None:
        self._check_store_id(store_id)
        validation.check_key(key)
        validation.check_metadata(metadata)
        _check_header_metadata(metadata)
        validation.check_ttl(ttl)
        _check_generation(if_generation_match)
        params = {
            Q_ADD: TRUE if mode is PutMode.ADD else None,
            Q_APPEND: TRUE if mode is PutMode.APPEND else None,
            Q_PREPEND: TRUE if mode is PutMode.PREPEND else None,
            Q_BACKGROUND_FETCH: TRUE if background_fetch else None,
        }
        headers: dict[str, str | bytes] = {"Content-Type": CT_OCTET}
        if metadata is not None:
            headers[H_METADATA.lower()] = metadata.encode("utf-8")
        if if_generation_match is not None:
            headers[H_IF_GENERATION_MATCH] = str(if_generation_match)
        if ttl is not None:
            headers[H_TTL] = str(ttl)
        if mode is PutMode.ADD or if_generation_match == 0:
            precondition = f"key {key!r} already exists"
        elif if_generation_match is not None:
            precondition = f"generation mismatch for key {key!r}: it is not at generation {if_generation_match}"
        else:
            precondition = f"precondition failed for key {key!r}"
        self._request(
            "PUT",
            (*STORES, store_id, KEYS_SEGMENT, key),
            params=params,
            content=bytes(value),  # bytes, not a stream: httpx sends Content-Length
            headers=headers,
            accept=None,
            # an upsert (plain, add, or generation-checked) can be repeated without changing the outcome;
            # append/prepend cannot, so they are repeated only when they certainly never left this machine
            retry_safe=mode not in (PutMode.APPEND, PutMode.PREPEND),
            context=_item_context(store_id, key, precondition),
        )

    def get_item(self, store_id: str, key: str) -> Item:
        self._check_store_id(store_id)
        validation.check_key(key)
        resp = self._request(
            "GET",
            (*STORES, store_id, KEYS_SEGMENT, key),
            accept=CT_OCTET,
            value_body=True,  # bounded by the value limit, and given time in proportion to its size
            context=_item_context(store_id, key, "precondition failed"),
        )
        value = resp.content
        return Item(info=self._item_info(key, resp.headers, len(value)), value=value)

    def describe_item(self, store_id: str, key: str) -> ItemInfo:
        """HEAD first (no value transfer); a server without HEAD (405/501) gets a GET whose body is not read."""
        self._check_store_id(store_id)
        validation.check_key(key)
        segments = (*STORES, store_id, KEYS_SEGMENT, key)
        context = _item_context(store_id, key, "precondition failed")
        if self._head_supported is not False:
            resp = self._request("HEAD", segments, accept=CT_OCTET, tolerate=(405, 501), context=context)
            if resp.status_code < 300 and _int_header(resp.headers, H_GENERATION) is not None:
                self._head_supported = True
                return self._item_info(key, resp.headers, None)
            self._head_supported = False  # 405/501, or a 2xx without item headers: HEAD is not really served
        resp = self._request("GET", segments, accept=CT_OCTET, stream=True, context=context)
        try:
            return self._item_info(key, resp.headers, None)
        finally:
            resp.close()  # the value is never downloaded

    @staticmethod
    def _item_info(key: str, headers: Any, body_size: int | None) -> ItemInfo:
        size = _int_header(headers, H_STORED_LENGTH)
        if size is None:
            size = body_size if body_size is not None else _int_header(headers, "Content-Length")
        expires_at = None
        raw_exp = headers.get(H_EXPIRES)
        if raw_exp:
            try:
                expires_at = datetime.fromtimestamp(float(raw_exp), tz=UTC)
            except (ValueError, OverflowError, OSError):
                expires_at = None
        return ItemInfo(
            key=key,
            generation=_int_header(headers, H_GENERATION) or 0,
            metadata=headers.get(H_METADATA, ""),
            size=size or 0,
            last_modified=_http_date(headers.get(H_LAST_MODIFIED)),
            expires_at=expires_at,
        )

    def list_keys(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[str]:
        self._check_store_id(store_id)
        if consistency not in ("strong", "eventual"):
            raise InvalidInput(f"invalid consistency {consistency!r}", "use 'strong' or 'eventual'")
        if limit is not None and limit < 1:
            raise InvalidInput("limit must be at least 1")
        params = {
            "consistency": consistency,
            "prefix": prefix or None,
            "cursor": cursor or None,
            "limit": str(limit) if limit is not None else None,
        }
        doc = self._request_json(
            "GET", (*STORES, store_id, KEYS_SEGMENT), params=params, context=_store_context(store_id)
        )
        data, next_cursor, _ = _page_fields(doc)
        return Page(items=[str(k) for k in data], next_cursor=next_cursor)

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
        """A page of keys, then a HEAD per key, ``concurrency`` (default :attr:`describe_concurrency`) at once.

        Expiry is known only where the server sends kvcli's ``Kvcli-Expires-At`` (``kvcli local serve``); Fastly
        does not, so there ``expires_at`` is None."""
        from kvcli.api.port import list_items_by_describe

        return list_items_by_describe(
            self, store_id, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency,
            concurrency=concurrency or self.describe_concurrency,
        )

    def delete_item(
        self, store_id: str, key: str, *, force: bool = False, if_generation_match: int | None = None
    ) -> None:
        self._check_store_id(store_id)
        validation.check_key(key)
        _check_generation(if_generation_match)
        headers = {H_IF_GENERATION_MATCH: str(if_generation_match)} if if_generation_match is not None else None
        self._request(
            "DELETE",
            (*STORES, store_id, KEYS_SEGMENT, key),
            params={Q_FORCE: TRUE if force else None},
            headers=headers,
            accept=None,
            context=_item_context(
                store_id, key, f"generation mismatch for key {key!r}: it is not at generation {if_generation_match}"
            ),
        )
