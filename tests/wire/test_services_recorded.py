"""`kvcli local serve`'s service and version endpoints against the shapes the real API was recorded answering.

Each test is one request/response pair of go-fastly's recordings of the real Fastly API (go-vcr cassettes under
``fastly/fixtures/services/`` and ``versions/``; the newest recording of an endpoint is the reference). The shapes are
written down in docs/local-serve.md, "Services and versions: the recorded shapes". The tests assert the keys, the
value types, the status and the headers; values that only the real account can have (IDs, timestamps) are not
compared.
"""

from __future__ import annotations

import re

import pytest

TOKEN = "recorded-token"
H = {"Fastly-Key": TOKEN}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RL = ("Fastly-RateLimit-Remaining", "Fastly-RateLimit-Reset")

#: a version object (versions/compute/get.yaml, update.yaml, clone.yaml, lock.yaml: 2025-09)
VERSION_KEYS = {
    "active", "comment", "created_at", "deleted_at", "deployed", "environments", "locked", "number", "service_id",
    "staging", "testing", "updated_at",
}  # fmt: skip
#: the service object of create, get and update (details_with_filters/create.yaml 2026-05; compute/get.yaml,
#: compute/update.yaml 2025-09): no "version" key
SERVICE_KEYS = {
    "comment", "created_at", "customer_id", "deleted_at", "environments", "id", "name", "paused", "publish_key",
    "type", "updated_at", "versions",
}  # fmt: skip
#: search (compute/search.yaml 2025-09) and details (details_with_filters/*.yaml 2026-05) leave out paused/publish_key
SEARCH_KEYS = SERVICE_KEYS - {"paused", "publish_key"}
DETAILS_KEYS = SEARCH_KEYS | {"version", "active_version"}
#: a list element (compute/list.yaml 2025-09): paused and the integer "version", no publish_key
LIST_KEYS = (SERVICE_KEYS - {"publish_key"}) | {"version"}
#: the configuration lists of a VCL service's details version (details_with_filters/multiple.yaml, 2026-05)
VCL_LISTS = {
    "acls", "backends", "cache_settings", "conditions", "dictionaries", "directors", "domains", "gzips", "headers",
    "healthchecks", "request_settings", "response_objects", "snippets", "vcls", "wordpress",
}  # fmt: skip
#: ... and of a Compute service's (compute/details.yaml, 2025-09)
WASM_LISTS = {"backends", "domains", "healthchecks"}
SETTINGS = {
    "general.default_host": str, "general.default_pci": int, "general.default_ttl": int,
    "general.stale_if_error": bool, "general.stale_if_error_ttl": int,
}  # fmt: skip


@pytest.fixture
def client(tmp_path):
    import warnings

    from kvcli.local.server import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        with TestClient(create_app(tmp_path / "data", token=TOKEN)) as c:
            yield c


def _create(client, name: str = "test-service", type_: str = "wasm", comment: str = "comment") -> dict:
    r = client.post("/service", data={"comment": comment, "name": name, "type": type_}, headers=H)
    assert r.status_code == 200, r.text
    return r.json()


def _assert_version(v: dict, sid: str, number: int) -> None:
    assert set(v) == VERSION_KEYS
    assert v["service_id"] == sid and v["number"] == number and isinstance(v["number"], int)
    for flag in ("active", "deployed", "locked", "staging", "testing"):
        assert isinstance(v[flag], bool), flag
    assert TS.match(v["created_at"]) and TS.match(v["updated_at"]) and v["deleted_at"] is None
    assert isinstance(v["comment"], str) and isinstance(v["environments"], list)


def _assert_service(s: dict, keys: set[str]) -> None:
    assert set(s) == keys
    assert s["type"] in ("wasm", "vcl") and isinstance(s["customer_id"], str) and s["deleted_at"] is None
    assert TS.match(s["created_at"]) and TS.match(s["updated_at"])
    assert s["environments"] == [] or all(set(e) == {"name", "service_id", "active_version"} for e in s["environments"])
    for v in s["versions"]:
        _assert_version(v, s["id"], v["number"])
    if "paused" in keys:
        assert s["paused"] is False
    if "publish_key" in keys:
        assert s["publish_key"] == ""


# ------------------------------------------------------------------------------------------------ services
def test_create_service_has_the_recorded_keys_and_no_version_key(client):
    r = client.post("/service", data={"comment": "test filters", "name": "test-service-filters"}, headers=H)
    assert r.status_code == 200
    assert all(h in r.headers for h in RL)
    body = r.json()
    _assert_service(body, SERVICE_KEYS)
    assert "version" not in body  # go-fastly reads ActiveVersion from it: a new service has none
    assert body["comment"] == "test filters" and [v["number"] for v in body["versions"]] == [1]


def test_get_service_has_no_version_key_even_with_versions(client):
    sid = _create(client)["id"]
    client.put(f"/service/{sid}/version/1/clone", headers=H)
    r = client.get(f"/service/{sid}", headers=H)
    assert r.status_code == 200 and not any(h in r.headers for h in RL)
    _assert_service(r.json(), SERVICE_KEYS)
    assert [v["number"] for v in r.json()["versions"]] == [1, 2]


def test_search_service_shape(client):
    sid = _create(client)["id"]
    r = client.get("/service/search", params={"name": "test-service"}, headers=H)
    assert r.status_code == 200
    _assert_service(r.json(), SEARCH_KEYS)
    assert r.json()["id"] == sid


def test_list_services_elements_carry_the_integer_version(client):
    _create(client)
    r = client.get("/service", params={"direction": "descend", "page": "1", "per_page": "100", "sort": "created"},
                   headers=H)  # fmt: skip
    assert r.status_code == 200
    (svc,) = r.json()
    _assert_service(svc, LIST_KEYS)
    assert svc["version"] == 1 and isinstance(svc["version"], int)


def test_update_service_renames_and_comments(client):
    sid = _create(client)["id"]
    # go-fastly's UpdateService sends the ServiceID in the form too (services/compute/update.yaml)
    r = client.put(f"/service/{sid}", data={"ServiceID": sid, "name": "new-test-service"}, headers=H)
    assert r.status_code == 200, r.text
    assert all(h in r.headers for h in RL)
    body = r.json()
    _assert_service(body, SERVICE_KEYS)
    assert body["id"] == sid and body["name"] == "new-test-service" and body["comment"] == "comment"
    r = client.put(f"/service/{sid}", data={"comment": "new comment"}, headers=H)
    assert r.status_code == 200 and r.json()["comment"] == "new comment" and r.json()["name"] == "new-test-service"
    assert client.get("/service/search", params={"name": "new-test-service"}, headers=H).json()["id"] == sid
    assert client.get("/service/search", params={"name": "test-service"}, headers=H).status_code == 404


def test_update_service_errors(client):
    sid = _create(client)["id"]
    _create(client, name="other")
    r = client.put(f"/service/{sid}", data={"name": "other"}, headers=H)
    assert r.status_code == 409 and r.json()["msg"] == "Duplicate record"
    r = client.put("/service/NoSuchService000000000", data={"name": "x"}, headers=H)
    assert r.status_code == 404 and r.json()["msg"] == "Record not found"
    r = client.put(f"/service/{sid}", data={"name": ""}, headers=H)
    assert r.status_code == 400 and r.json()["msg"] == "Bad request"
    r = client.put(f"/service/{sid}", data={"ServiceID": sid}, headers=H)  # nothing to change
    assert r.status_code == 200 and r.json()["name"] == "test-service" and r.json()["comment"] == "comment"


def test_delete_service_then_again_is_400_service_is_deleted(client):
    sid = _create(client, name="test-service-filters", type_="vcl")["id"]
    r = client.delete(f"/service/{sid}", headers=H)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = client.delete(f"/service/{sid}", headers=H)  # details_with_filters/cleanup.yaml, 2026-05
    assert r.status_code == 400
    assert r.json() == {"msg": "Bad request", "detail": f"Service '{sid}' is deleted"}
    assert r.headers["content-type"].startswith("application/json")
    assert all(h in r.headers for h in RL)
    assert client.delete("/service/NoSuchService000000000", headers=H).status_code == 404  # never existed


def test_service_domains_is_an_empty_list(client):
    sid = _create(client)["id"]
    r = client.get(f"/service/{sid}/domain", headers=H)
    assert (r.status_code, r.json()) == (200, [])


# ------------------------------------------------------------------------------------------------- details
@pytest.mark.parametrize(
    "query",
    [
        "filter%5Bversions.active%5D=true&filter%5Bversions.staged%5D=true",  # multiple.yaml
        "filter%5Bversions.active%5D=true",  # active.yaml
        "version=1",  # version.yaml
    ],
)
def test_details_of_a_vcl_service_without_active_version(client, query):
    sid = _create(client, name="test-service-filters", type_="vcl", comment="test filters")["id"]
    r = client.get(f"/service/{sid}/details?{query}", headers=H)
    assert r.status_code == 200
    body = r.json()
    _assert_service(body, DETAILS_KEYS)
    assert body["active_version"] is None
    version = body["version"]
    assert version is not None, "the recording answers with version 1, not null"
    assert set(version) == VERSION_KEYS | VCL_LISTS | {"settings"}
    assert version["number"] == 1 and version["active"] is False
    assert all(version[k] == [] for k in VCL_LISTS)
    assert {k: type(v) for k, v in version["settings"].items()} == SETTINGS


def test_details_of_a_compute_service(client):
    sid = _create(client)["id"]
    body = client.get(f"/service/{sid}/details", headers=H).json()
    _assert_service(body, DETAILS_KEYS)
    assert set(body["version"]) == VERSION_KEYS | WASM_LISTS and body["active_version"] is None
    client.put(f"/service/{sid}/version/1/activate", headers=H)
    body = client.get(f"/service/{sid}/details?filter%5Bversions.active%5D=true", headers=H).json()
    assert set(body["active_version"]) == VERSION_KEYS | WASM_LISTS and body["active_version"]["active"] is True
    assert body["environments"] == [{"name": "production", "service_id": sid, "active_version": 1}]


# ------------------------------------------------------------------------------------------------ versions
def test_create_version_without_comment_answers_service_id_and_number_only(client):
    sid = _create(client)["id"]
    r = client.post(f"/service/{sid}/version", headers=H)
    assert r.status_code == 200 and all(h in r.headers for h in RL)
    assert r.json() == {"service_id": sid, "number": 2}
    r = client.post(f"/service/{sid}/version", data={"comment": "test comment"}, headers=H)  # compute/create.yaml
    assert r.json() == {"comment": "test comment", "service_id": sid, "number": 3}


def test_update_version_comment(client):
    sid = _create(client)["id"]
    r = client.put(f"/service/{sid}/version/1", data={"comment": "new comment"}, headers=H)
    assert r.status_code == 200, r.text
    assert int(r.headers["Fastly-RateLimit-Remaining"]) >= 0 and int(r.headers["Fastly-RateLimit-Reset"]) > 0
    _assert_version(r.json(), sid, 1)
    assert r.json()["comment"] == "new comment"
    assert client.get(f"/service/{sid}/version/1", headers=H).json()["comment"] == "new comment"


def test_update_version_errors(client):
    sid = _create(client)["id"]
    client.put(f"/service/{sid}/version/1/lock", headers=H)
    r = client.put(f"/service/{sid}/version/1", data={"comment": "x"}, headers=H)
    assert r.status_code == 422
    assert r.json() == {"msg": "Version locked", "detail": f"Version '1' for service '{sid}' is locked"}
    r = client.put(f"/service/{sid}/version/9", data={"comment": "x"}, headers=H)
    assert r.status_code == 404 and r.json()["msg"] == "Record not found"


def test_validate_version(client):
    sid = _create(client)["id"]
    r = client.get(f"/service/{sid}/version/1/validate", headers=H)
    assert r.status_code == 200 and not any(h in r.headers for h in RL)
    body = r.json()
    assert body["status"] == "ok" and body["msg"] is None
    assert body["errors"] == [] and body["warnings"] == [] and body["messages"] == []
    assert client.get(f"/service/{sid}/version/7/validate", headers=H).status_code == 404


def test_version_domains_is_an_empty_list(client):
    sid = _create(client)["id"]
    r = client.get(f"/service/{sid}/version/1/domain", headers=H)
    assert (r.status_code, r.json()) == (200, [])
    assert client.get(f"/service/{sid}/version/5/domain", headers=H).status_code == 404


def test_an_empty_update_of_a_resource_link_answers_the_link_unchanged(client):
    sid = _create(client)["id"]
    store = client.post("/resources/stores/kv", json={"name": "linked"}, headers=H).json()["id"]
    r = client.post(f"/service/{sid}/version/1/resource", data={"resource_id": store, "name": "kept"}, headers=H)
    assert r.status_code == 200, r.text
    link = r.json()
    r = client.put(f"/service/{sid}/version/1/resource/{link['id']}", data={}, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "kept" and r.json()["resource_id"] == store
