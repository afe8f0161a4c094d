"""Store behaviour at the API port, the same on every adapter (see conftest: local and http→served)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kvcli.api.errors import Conflict, InvalidInput, NotFound
from kvcli.api.port import iter_stores


def unique(prefix: str = "st") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_create_returns_the_store_and_get_finds_it(api):
    name = unique()
    created = api.create_store(name)
    assert created.name == name
    assert created.id
    assert created.created_at is not None
    assert abs(created.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    got = api.get_store(created.id)
    assert (got.id, got.name) == (created.id, name)
    assert api.find_store(name).id == created.id


@pytest.mark.parametrize("location", ["US", "EU", "ASIA", "AUS"])
def test_create_with_location(api, location):
    # Fastly does not echo the location back (fastly-api.md §2.2), so only acceptance is part of the contract
    name = unique()
    store = api.create_store(name, location=location)
    assert api.get_store(store.id).name == name


def test_bad_location_is_refused(api):
    with pytest.raises(InvalidInput):
        api.create_store(unique(), location="MARS")


def test_duplicate_name_is_refused(api):
    name = unique()
    api.create_store(name)
    with pytest.raises(InvalidInput):
        api.create_store(name)


def test_empty_name_is_refused(api):
    with pytest.raises(InvalidInput):
        api.create_store("")


def test_unknown_store_is_not_found(api):
    with pytest.raises(NotFound):
        api.get_store("nosuchstore0000000000000")
    with pytest.raises(NotFound):
        api.find_store(unique("missing"))
    with pytest.raises(NotFound):
        api.delete_store("nosuchstore0000000000000")


def test_listing_pages_through_every_store_exactly_once(api):
    mine = {api.create_store(unique("page")).id for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        page = api.list_stores(cursor=cursor, limit=2)
        assert len(page.items) <= 2
        seen.extend(s.id for s in page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert mine <= set(seen)
    assert len(seen) == len(set(seen))
    assert mine <= {s.id for s in iter_stores(api)}


def test_delete_empty_store(api):
    store = api.create_store(unique())
    api.delete_store(store.id)
    with pytest.raises(NotFound):
        api.get_store(store.id)
    assert store.id not in {s.id for s in iter_stores(api)}


def test_non_empty_store_cannot_be_deleted(api, store):
    api.put_item(store.id, "k", b"v")
    with pytest.raises(Conflict):
        api.delete_store(store.id)
    assert api.get_store(store.id).id == store.id
    api.delete_item(store.id, "k")
    api.delete_store(store.id)
    with pytest.raises(NotFound):
        api.get_store(store.id)
