"""kvcli.Store and kvcli.KV's store methods on both backends: items, listing, errors and their facts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

import kvcli


def unique(prefix: str = "lib") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------------- stores
def test_create_store_and_find_it_by_name_and_by_id(kv):
    name = unique()
    created = kv.create_store(name)
    assert isinstance(created, kvcli.Store)
    assert created.name == name and created.id
    assert kv.store(name) == created
    assert kv.store(created.id) == created
    assert kv.store(created.id).name == name


def test_create_store_with_a_location(kv):
    s = kv.create_store(unique(), location="EU")
    assert s.location == "EU"


def test_a_store_that_is_neither_a_name_nor_an_id_is_not_found(kv):
    with pytest.raises(kvcli.NotFound) as caught:
        kv.store(unique("missing"))
    err = caught.value
    assert isinstance(err, KeyError) and isinstance(err, kvcli.KvcliError)
    assert err.kind == "not_found"
    assert err.operation == "store"
    assert "no KV store named" in str(err)
    assert not str(err).startswith(("'", '"'))  # KeyError's str() would quote the message


def test_stores_lists_every_page_lazily(kv):
    names = {unique("page") for _ in range(5)}
    for name in names:
        kv.create_store(name)
    listing = kv.stores(page_size=2)
    first = next(listing)
    assert isinstance(first, kvcli.Store)
    seen = {first.name, *(s.name for s in listing)}
    assert names <= seen


def test_delete_store(kv):
    s = kv.create_store(unique())
    kv.delete_store(s.name)
    with pytest.raises(kvcli.NotFound):
        kv.store(s.id)


def test_delete_store_with_keys_is_a_conflict(kv, store):
    store["k"] = b"v"
    with pytest.raises(kvcli.Conflict) as caught:
        kv.delete_store(store)
    assert caught.value.kind == "conflict"
    assert caught.value.store_id == store.id
    store.clear()
    kv.delete_store(store)


def test_invalid_store_name_is_invalid_input(kv):
    with pytest.raises(kvcli.InvalidInput) as caught:
        kv.create_store("")
    assert caught.value.kind == "invalid_input"


# ---------------------------------------------------------------------------------------------------- items
def test_mapping_protocol(store):
    store["greeting"] = "héllo"  # str values are UTF-8 encoded
    store["raw"] = b"\x00\xff"
    assert store["greeting"] == "héllo".encode()
    assert store["raw"] == b"\x00\xff"
    assert "greeting" in store
    assert "nope" not in store
    assert sorted(store) == ["greeting", "raw"]
    del store["greeting"]
    assert "greeting" not in store
    assert list(store) == ["raw"]
    with pytest.raises(TypeError):
        len(store)  # not a full mapping: counting means listing every key


def test_missing_key_is_not_found_and_a_key_error(store):
    with pytest.raises(KeyError) as caught:
        store["nope"]
    err = caught.value
    assert isinstance(err, kvcli.NotFound)
    assert err.kind == "not_found" and err.status == 404
    assert (err.operation, err.store_id, err.key) == ("get", store.id, "nope")
    assert "nope" in str(err) and str(err) == err.message
    with pytest.raises(kvcli.NotFound):
        store.get("nope")
    with pytest.raises(kvcli.NotFound):
        store.describe("nope")
    with pytest.raises(KeyError):
        del store["nope"]
    store.delete("nope", missing_ok=True)


def test_get_returns_value_metadata_generation_and_expiry(store):
    before = datetime.now(UTC)
    store.put("k", b"v", metadata="meta", ttl=3600)
    item = store.get("k")
    assert isinstance(item, kvcli.Item)
    assert item.key == "k" and item.value == b"v" and item.metadata == "meta"
    assert isinstance(item.generation, int) and item.generation > 0
    assert item.expires_at is not None
    assert 3500 < (item.expires_at - before).total_seconds() <= 3602
    info = store.describe("k")
    assert isinstance(info, kvcli.ItemInfo)
    assert (info.key, info.metadata, info.generation, info.size) == ("k", "meta", item.generation, 1)
    store["plain"] = b"x"
    assert store.get("plain").expires_at is None


def test_put_modes(store):
    store.put("k", b"middle")
    store.put("k", b"-end", mode="append")
    store.put("k", b"start-", mode="prepend")
    assert store["k"] == b"start-middle-end"
    store.put("new", b"1", mode="add")
    assert store["new"] == b"1"
    store.put("k", b"over", mode="overwrite")
    assert store["k"] == b"over"


def test_add_on_an_existing_key_is_precondition_failed(store):
    store["k"] = b"first"
    with pytest.raises(kvcli.PreconditionFailed) as caught:
        store.put("k", b"second", mode="add")
    assert caught.value.kind == "precondition_failed"
    assert (caught.value.operation, caught.value.key) == ("put", "k")
    assert store["k"] == b"first"


def test_generation_match(store):
    store["k"] = b"1"
    gen = store.describe("k").generation
    with pytest.raises(kvcli.PreconditionFailed):
        store.put("k", b"2", if_generation_match=gen + 1)
    assert store["k"] == b"1"
    store.put("k", b"2", if_generation_match=gen)
    assert store["k"] == b"2"
    with pytest.raises(kvcli.PreconditionFailed):
        store.put("k", b"3", if_generation_match=0)  # 0: only if the key does not exist
    store.put("fresh", b"x", if_generation_match=0)
    assert store["fresh"] == b"x"
    new_gen = store.describe("k").generation
    with pytest.raises(kvcli.PreconditionFailed):
        store.delete("k", if_generation_match=new_gen + 1)
    store.delete("k", if_generation_match=new_gen)
    assert "k" not in store


def test_invalid_arguments_are_invalid_input(store):
    with pytest.raises(kvcli.InvalidInput, match="unknown mode"):
        store.put("k", b"v", mode="upsert")  # type: ignore[arg-type]
    with pytest.raises(kvcli.InvalidInput, match="bytes or str"):
        store.put("k", 42)  # type: ignore[arg-type]
    with pytest.raises(kvcli.InvalidInput) as caught:
        store["bad#key"] = b"v"
    assert caught.value.key == "bad#key"
    assert "k" not in store


def test_a_deleted_store_is_not_found_from_its_handle(kv):
    s = kv.create_store(unique())
    kv.delete_store(s)
    with pytest.raises(kvcli.NotFound):
        s["k"] = b"v"
    with pytest.raises(kvcli.NotFound):
        "k" in s  # noqa: B015 - a missing store is not a missing key
    with pytest.raises(kvcli.NotFound):
        s.clear()


# ------------------------------------------------------------------------------------------------- listing
def test_keys_follow_every_page(store):
    wanted = [f"k{i:04d}" for i in range(23)]
    for key in wanted:
        store[key] = b"v"
    store["other"] = b"v"
    assert list(store.keys(page_size=5)) == [*wanted, "other"]
    assert list(store.keys(prefix="k001", page_size=3)) == wanted[10:20]
    assert list(store.keys(prefix="nothing")) == []


def test_items_describe_every_key_page_by_page(store):
    wanted = [f"k{i:04d}" for i in range(23)]
    for i, key in enumerate(wanted):
        store.put(key, b"v" * i, metadata=f"m{i}")
    store.put("other", b"x", ttl=600)
    got = list(store.items(page_size=5))
    assert [i.key for i in got] == [*wanted, "other"]
    assert got == [store.describe(k) for k in [*wanted, "other"]]
    assert got[3].size == 3 and got[3].metadata == "m3" and got[-1].expires_at is not None
    assert [i.key for i in store.items(prefix="k001", page_size=3, concurrency=2)] == wanted[10:20]
    assert list(store.items(prefix="nothing")) == []
    with pytest.raises(kvcli.InvalidInput):
        list(store.items(concurrency=0))


def test_items_of_a_deleted_store_is_not_found_with_the_facts(kv, store):
    kv.delete_store(store)
    with pytest.raises(kvcli.NotFound) as caught:
        list(store.items())
    assert caught.value.operation == "items" and caught.value.store_id == store.id


def test_keys_are_fetched_a_page_at_a_time(store):
    """The listing is lazy: keys written after the first page was read still show up on later pages."""
    for key in ("a", "b", "c"):
        store[key] = b"v"
    listing = store.keys(page_size=2)
    assert [next(listing), next(listing)] == ["a", "b"]
    store["d"] = b"v"  # after the first page, before the second is asked for
    assert list(listing) == ["c", "d"]


def test_more_than_a_thousand_keys_with_the_default_page_size(store, tmp_path):
    lines = "".join(f'{{"key":"k{i:05d}","value":"eA=="}}\n' for i in range(1234))
    path = tmp_path / "many.ndjson"
    path.write_text(lines)
    assert store.import_file(path).written == 1234
    keys = list(store)
    assert len(keys) == 1234 and keys == sorted(keys)
    assert store.delete_prefix("k000") == 100
    assert store.clear() == 1134
    assert list(store) == []


# ------------------------------------------------------------------------------------------------- deleting
def test_delete_prefix_and_clear_count_what_they_deleted(store):
    for i in range(12):
        store[f"a/{i}"] = b"v"
    for i in range(5):
        store[f"b/{i}"] = b"v"
    assert store.delete_prefix("a/") == 12
    assert sorted(store) == [f"b/{i}" for i in range(5)]
    assert store.delete_prefix("zzz") == 0
    assert store.clear() == 5
    assert store.clear() == 0
    with pytest.raises(kvcli.InvalidInput, match="prefix is empty") as caught:
        store.delete_prefix("")
    assert "clear()" in (caught.value.hint or "")


# ---------------------------------------------------------------------------------------------- lifecycle
def test_closed_connection(kv):
    s = kv.create_store(unique())
    kv.close()
    kv.close()  # idempotent
    assert kv.closed
    with pytest.raises(kvcli.Closed) as caught:
        s["k"] = b"v"
    assert caught.value.kind == "closed"
    with pytest.raises(kvcli.Closed):
        kv.store(s.name)


def test_context_manager_closes(isolated):
    with kvcli.connect(data_dir=isolated["data"]) as kv:
        kv.create_store("cm")["k"] = b"v"
    assert kv.closed
    with kvcli.connect(data_dir=isolated["data"]) as again:
        assert again.store("cm")["k"] == b"v"
