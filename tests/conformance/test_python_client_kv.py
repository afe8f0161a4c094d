"""The official Python client (`fastly` on PyPI, 15.x) against `kvcli local serve`.

It sends booleans capitalised (`add=True`, `force=True`), percent-encodes keys with `safe=''`, and has no batch
method (its README says so), so bulk data is seeded through the engine. Outcomes are checked in the client's return
values and exceptions and in the served database.
"""

from __future__ import annotations

import uuid

import pytest

from kvcli.api.errors import NotFound
from kvcli.api.models import BatchEntry
from tests.conformance.conftest import TOKEN

pytestmark = pytest.mark.conformance

fastly = pytest.importorskip("fastly", reason="the official Python client (pip install fastly) is not installed")

from fastly.api.kv_store_api import KvStoreApi  # noqa: E402
from fastly.api.kv_store_item_api import KvStoreItemApi  # noqa: E402
from fastly.exceptions import ApiException, NotFoundException, UnauthorizedException  # noqa: E402
from fastly.model.kv_store_request_create_or_update import KvStoreRequestCreateOrUpdate  # noqa: E402


def make_client(url: str, token: str = TOKEN):
    conf = fastly.Configuration(host=url)
    conf.api_token = token
    return fastly.ApiClient(conf)


@pytest.fixture
def client(kv_server):
    with make_client(kv_server.url) as c:
        yield c


@pytest.fixture
def stores(client):
    return KvStoreApi(client)


@pytest.fixture
def items(client):
    return KvStoreItemApi(client)


def named(name: str) -> KvStoreRequestCreateOrUpdate:
    return KvStoreRequestCreateOrUpdate(name=name)


# ---------------------------------------------------------------------------------------------------- stores
def test_store_create_list_get_rename_delete(stores, kv_engine):
    name = f"py-{uuid.uuid4().hex[:10]}"
    created = stores.kv_store_create(location="ASIA", kv_store_request_create_or_update=named(name))
    assert created.name == name and len(created.id) == 22
    assert kv_engine.get_store(created.id).location == "ASIA"

    listed = stores.kv_store_list()
    assert created.id in [s.id for s in listed.data]
    only = stores.kv_store_list(name=name)
    assert [s.id for s in only.data] == [created.id]
    assert stores.kv_store_list(name=name + "-missing").data == []

    got = stores.kv_store_get(created.id)
    assert (got.id, got.name, got.created_at) == (created.id, name, created.created_at)

    _, status, _ = stores.kv_store_put(
        created.id, kv_store_request_create_or_update=named(name + "-2"), _return_http_data_only=False
    )
    assert status == 200 and kv_engine.get_store(created.id).name == name + "-2"

    _, status, _ = stores.kv_store_delete(created.id, _return_http_data_only=False)
    assert status == 204
    with pytest.raises(NotFound):
        kv_engine.get_store(created.id)
    with pytest.raises(NotFoundException):
        stores.kv_store_get(created.id)


def test_store_list_pages_with_cursor(stores, kv_engine):
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        kv_engine.create_store(f"zz-page-{tag}-{i}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        kwargs = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = stores.kv_store_list(**kwargs)
        pages += 1
        seen += [s.name for s in page.data]
        cursor = page.meta.get("next_cursor")  # absent on the last page
        if not cursor:
            break
    assert pages >= 2
    assert [n for n in seen if n.startswith(f"zz-page-{tag}")] == [f"zz-page-{tag}-{i}" for i in range(3)]
    assert len(seen) == len(set(seen)) == len(kv_engine.list_stores().items)


def test_errors_map_to_the_clients_exceptions(stores, items, kv_engine, kv_store, kv_server):
    kv_engine.put_item(kv_store.id, "k", b"v")
    with pytest.raises(ApiException) as conflict:
        stores.kv_store_delete(kv_store.id)
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as duplicate:
        stores.kv_store_create(kv_store_request_create_or_update=named(kv_store.name))
    assert duplicate.value.status == 400
    with make_client(kv_server.url, token="wrong") as bad, pytest.raises(UnauthorizedException) as unauth:
        KvStoreApi(bad).kv_store_list()
    assert unauth.value.status == 401


# ---------------------------------------------------------------------------------------------------- items
def test_item_upsert_get_headers_flags_and_delete(items, kv_engine, kv_store, kv_server):
    sid, key = kv_store.id, "path/to key+é"
    assert items.kv_store_upsert_item(sid, key, body="hello", metadata="m1", time_to_live_sec=600, add=True) is None
    item = kv_engine.get_item(sid, key)
    assert item.value == b"hello" and item.info.metadata == "m1" and item.info.expires_at is not None

    value, status, headers = items.kv_store_get_item(sid, key, _return_http_data_only=False)
    assert status == 200 and value == "hello"
    assert headers["Generation"] == str(item.info.generation)
    assert headers["Metadata"] == "m1" and headers["Stored-Content-Length"] == "5"

    with pytest.raises(ApiException) as exists:
        items.kv_store_upsert_item(sid, key, body="x", add=True)
    assert exists.value.status == 412 and not exists.value.body
    with pytest.raises(ApiException) as stale:
        items.kv_store_upsert_item(sid, key, body="x", if_generation_match=item.info.generation + 1)
    assert stale.value.status == 412

    items.kv_store_upsert_item(sid, key, body=" world", append=True, background_fetch=True)
    items.kv_store_upsert_item(sid, key, body=">", prepend=True, add=False)
    assert kv_engine.get_item(sid, key).value == b">hello world"

    gen = kv_engine.describe_item(sid, key).generation
    _, status, _ = items.kv_store_delete_item(sid, key, if_generation_match=gen, _return_http_data_only=False)
    assert status == 204
    assert kv_engine.list_keys(sid).items == []
    with pytest.raises(NotFoundException):
        items.kv_store_delete_item(sid, key)
    _, status, _ = items.kv_store_delete_item(sid, key, force=True, _return_http_data_only=False)
    assert status == 204
    with pytest.raises(NotFoundException):
        items.kv_store_get_item(sid, key)

    log = kv_server.log()
    assert "add=True" in log and "force=True" in log  # the client really sent capitalised booleans


def test_list_keys_past_1000_with_cursor_prefix_and_eventual(items, kv_engine, kv_store):
    sid = kv_store.id
    keys = sorted([f"k/{i:05d}" for i in range(1234)] + [f"other-{i}" for i in range(5)])
    assert kv_engine.put_batch(sid, [BatchEntry(key=k, value=b"") for k in keys]).errors == []

    first = items.kv_store_list_item_keys(sid)
    assert len(first.data) == 1000 and first.meta.limit == 1000
    collected = list(first.data)
    cursor = first.meta.next_cursor
    while cursor:
        page = items.kv_store_list_item_keys(sid, cursor=cursor, limit=500)
        collected += page.data
        cursor = page.meta.get("next_cursor")
    assert collected == keys

    prefixed = items.kv_store_list_item_keys(sid, prefix="other-", consistency="eventual")
    assert list(prefixed.data) == [f"other-{i}" for i in range(5)]
    assert prefixed.meta.prefix == "other-" and prefixed.meta.consistency == "eventual"


def test_delete_by_prefix_and_all_by_listing_then_deleting(items, kv_engine, kv_store):
    """The client has no bulk delete: list (with prefix), then delete each key, as its users do."""
    sid = kv_store.id
    kv_engine.put_batch(sid, [BatchEntry(key=f"a/{i}", value=b"") for i in range(25)] + [BatchEntry("b", b"")])
    for key in items.kv_store_list_item_keys(sid, prefix="a/").data:
        items.kv_store_delete_item(sid, key)
    assert kv_engine.list_keys(sid).items == ["b"]
    for key in items.kv_store_list_item_keys(sid).data:
        items.kv_store_delete_item(sid, key, force=True)
    assert kv_engine.list_keys(sid).items == []
