"""`kvcli local serve` store endpoints against the recorded shapes (fastly-api reference §2, §7.2), in-process ASGI."""

from __future__ import annotations

import re

import pytest

from kvcli.local.engine import Engine

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STORE_ID = re.compile(r"^[a-z0-9]{22}$")
STORE_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
STORES = "/resources/stores/kv"


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "kv.db", clock=lambda: 1_750_707_675.0)
    yield eng
    eng.close()


def legacy(r, status: int) -> dict:
    """Assert a legacy `{"msg", "detail"}` error body with ``status``; return it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) <= {"msg", "detail"} and body["msg"], body
    return body


def test_create_is_201_with_the_recorded_store_object(client):
    r = client.post(STORES + "?location=EU", json={"name": "TestClient_CreateKVStoresWithLocations_EU"})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert "location" not in r.headers
    body = r.json()
    assert list(body) == ["id", "name", "created_at", "updated_at"]  # the location is not echoed
    assert STORE_ID.match(body["id"])
    assert body["name"] == "TestClient_CreateKVStoresWithLocations_EU"
    assert body["created_at"] == body["updated_at"] == "2025-06-23 19:41:15"


@pytest.mark.parametrize("location", ["US", "EU", "ASIA", "AUS"])
def test_every_recorded_location_is_accepted(client, engine, location):
    r = client.post(f"{STORES}?location={location}", json={"name": f"s-{location}"})
    assert r.status_code == 201
    assert engine.get_store(r.json()["id"]).location == location


@pytest.mark.parametrize(
    "query, body",
    [
        ("?location=MARS", {"name": "x"}),
        ("?location=eu", {"name": "x"}),
        ("", {"name": ""}),
        ("", {"nom": "x"}),
        ("", {"name": 3}),
        ("", ["x"]),
    ],
)
def test_invalid_create_is_400_with_a_legacy_body(client, query, body):
    legacy(client.post(STORES + query, json=body), 400)


def test_create_with_a_body_that_is_not_json_is_400(client):
    body = legacy(client.post(STORES, content=b"{name: x", headers={"content-type": "application/json"}), 400)
    assert "JSON" in body["detail"]


def test_duplicate_name_is_400_not_409(client):
    assert client.post(STORES, json={"name": "dup"}).status_code == 201
    body = legacy(client.post(STORES, json={"name": "dup"}), 400)
    assert "dup" in body["detail"]


def test_empty_list_is_the_recorded_body(client):
    r = client.get(STORES)
    assert r.status_code == 200
    assert r.content == b'{"data":[],"meta":{"limit":1000,"total":0}}'


def test_list_is_sorted_like_fastly_and_counts_all_stores(client):
    names = ["testing-v9", "test_store", "KV Store hg6", "bulk_import_testing", "my_kv_store_tf_testing"]
    for n in names:
        client.post(STORES, json={"name": n})
    body = client.get(STORES).json()
    assert [s["name"] for s in body["data"]] == [
        "bulk_import_testing", "KV Store hg6", "my_kv_store_tf_testing", "testing-v9", "test_store",
    ]  # fmt: skip
    assert body["meta"] == {"limit": 1000, "total": 5}
    assert all(list(s) == ["id", "name", "created_at", "updated_at"] for s in body["data"])


def test_list_pages_with_next_cursor_only_while_more_remain(client):
    for i in range(5):
        client.post(STORES, json={"name": f"s{i}"})
    first = client.get(STORES + "?limit=2").json()
    assert [s["name"] for s in first["data"]] == ["s0", "s1"]
    assert first["meta"]["limit"] == 2 and first["meta"]["total"] == 5 and first["meta"]["next_cursor"]
    second = client.get(STORES, params={"limit": 2, "cursor": first["meta"]["next_cursor"]}).json()
    assert [s["name"] for s in second["data"]] == ["s2", "s3"]
    last = client.get(STORES, params={"limit": 2, "cursor": second["meta"]["next_cursor"]}).json()
    assert [s["name"] for s in last["data"]] == ["s4"]
    assert last["meta"] == {"limit": 2, "total": 5}


@pytest.mark.parametrize("query", ["?limit=0", "?limit=-1", "?limit=ten", "?cursor=not-a-cursor!"])
def test_bad_list_parameters_are_400(client, query):
    client.post(STORES, json={"name": "a"})
    legacy(client.get(STORES + query), 400)


def test_name_filter_returns_one_or_none(client):
    sid = client.post(STORES, json={"name": "wanted"}).json()["id"]
    client.post(STORES, json={"name": "other"})
    one = client.get(STORES, params={"name": "wanted"}).json()
    assert [s["id"] for s in one["data"]] == [sid]
    assert one["meta"] == {"limit": 1000, "total": 1}
    none = client.get(STORES, params={"name": "missing"}).json()
    assert none == {"data": [], "meta": {"limit": 1000, "total": 0}}


def test_get_store_and_unknown_store(client):
    created = client.post(STORES, json={"name": "g"}).json()
    r = client.get(f"{STORES}/{created['id']}")
    assert r.status_code == 200 and r.json() == created
    body = legacy(client.get(f"{STORES}/nosuchstore0000000000000"), 404)
    assert body["msg"] == "Record not found" and "nosuchstore" in body["detail"]


def test_rename_answers_the_store_and_keeps_names_unique(client, engine):
    a = client.post(STORES, json={"name": "a"}).json()
    client.post(STORES, json={"name": "b"})
    r = client.put(f"{STORES}/{a['id']}", json={"name": "a2"})
    assert r.status_code == 200
    assert r.json()["name"] == "a2" and r.json()["id"] == a["id"]
    assert engine.get_store(a["id"]).name == "a2"
    legacy(client.put(f"{STORES}/{a['id']}", json={"name": "b"}), 400)
    legacy(client.put(f"{STORES}/nosuchstore0000000000000", json={"name": "c"}), 404)


def test_delete_is_204_empty_then_404(client):
    sid = client.post(STORES, json={"name": "d"}).json()["id"]
    r = client.delete(f"{STORES}/{sid}")
    assert r.status_code == 204 and r.content == b""
    legacy(client.get(f"{STORES}/{sid}"), 404)
    legacy(client.delete(f"{STORES}/{sid}"), 404)


def test_deleting_a_non_empty_store_is_409_and_keeps_it(client, engine):
    sid = client.post(STORES, json={"name": "full"}).json()["id"]
    assert client.put(f"{STORES}/{sid}/keys/k", content=b"v").status_code == 200
    body = legacy(client.delete(f"{STORES}/{sid}"), 409)
    assert "not empty" in body["detail"]
    assert engine.get_store(sid).name == "full"
