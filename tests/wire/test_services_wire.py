"""The `/service` wire format: `kvcli local serve`'s answers (in-process ASGI) and the HTTP adapter's requests.

Shapes are the recorded ones (fastly-api reference §5–§6): form-encoded bodies, 200 on create, bare arrays,
``{"status":"ok"}`` on delete, ``{"msg","detail"}`` errors, RFC 3339 timestamps, rate-limit headers on mutations.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs

import httpx
import pytest

from kvcli.api.errors import Conflict, NotFound, ServerError, VersionLocked
from kvcli.cli.exits import exit_code_for

TOKEN = "wire-token"
H = {"Fastly-Key": TOKEN}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
VERSION_KEYS = {
    "active", "comment", "created_at", "deleted_at", "deployed", "locked", "number", "service_id", "staging",
    "testing", "updated_at", "environments",
}  # fmt: skip
LINK_KEYS = {
    "id", "name", "service_id", "version", "created_at", "updated_at", "deleted_at", "resource_id", "resource_type",
    "href",
}  # fmt: skip


@pytest.fixture
def client(tmp_path):
    pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")
    import warnings

    from kvcli.local.server import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        with TestClient(create_app(tmp_path / "data", token=TOKEN)) as c:
            yield c


@pytest.fixture
def sid(client) -> str:
    r = client.post("/service", data={"name": "web", "type": "wasm"}, headers=H)
    assert r.status_code == 200, r.text
    return r.json()["id"]


@pytest.fixture
def store_id(client) -> str:
    return client.post("/resources/stores/kv", json={"name": "st"}, headers=H).json()["id"]


# ------------------------------------------------------------------------------------------------- server
def test_create_service_is_200_with_versions(client):
    r = client.post("/service", data={"name": "svc", "type": "vcl", "comment": "c"}, headers=H)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "vcl" and body["comment"] == "c" and body["deleted_at"] is None
    assert [v["number"] for v in body["versions"]] == [1]
    assert set(body["versions"][0]) == VERSION_KEYS


def test_link_create_shape_and_rate_limit_headers(client, sid, store_id):
    r = client.post(f"/service/{sid}/version/1/resource", data={"name": "", "resource_id": store_id}, headers=H)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == LINK_KEYS
    assert body["name"] == "st"  # the official CLI always sends name= (empty): the store's name is used
    assert body["resource_type"] == "kv-store" and body["href"] is None and body["deleted_at"] is None
    assert body["version"] == 1 and isinstance(body["version"], int)
    assert TS.match(body["created_at"]) and TS.match(body["updated_at"])
    remaining = int(r.headers["Fastly-RateLimit-Remaining"])
    reset = int(r.headers["Fastly-RateLimit-Reset"])
    assert reset > time.time() and reset % 3600 == 0
    r2 = client.put(f"/service/{sid}/version/1/resource/{body['id']}", data={"name": "renamed"}, headers=H)
    assert r2.status_code == 200 and r2.json()["name"] == "renamed"
    assert int(r2.headers["Fastly-RateLimit-Remaining"]) == remaining - 1


def test_reads_are_bare_arrays_without_rate_limit_headers(client, sid, store_id):
    client.post(f"/service/{sid}/version/1/resource", data={"resource_id": store_id}, headers=H)
    for path in (f"/service/{sid}/version/1/resource", f"/service/{sid}/version", "/service"):
        r = client.get(path, headers=H)
        assert r.status_code == 200
        assert isinstance(r.json(), list) and len(r.json()) == 1
        assert "Fastly-RateLimit-Remaining" not in r.headers


def test_delete_link_answers_status_ok_then_404_with_detail(client, sid, store_id):
    link = client.post(f"/service/{sid}/version/1/resource", data={"resource_id": store_id}, headers=H).json()
    r = client.delete(f"/service/{sid}/version/1/resource/{link['id']}", headers=H)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert "Fastly-RateLimit-Remaining" in r.headers
    r = client.delete(f"/service/{sid}/version/1/resource/{link['id']}", headers=H)
    assert r.status_code == 404
    assert r.json()["msg"] == "Record not found"
    assert r.json()["detail"].startswith("Couldn't find Link '{ deleted => 0000-00-00 00:00:00, id => ")


def test_version_locked_is_422_with_the_recorded_body(client, sid, store_id):
    client.put(f"/service/{sid}/version/1/lock", headers=H)
    r = client.post(f"/service/{sid}/version/1/resource", data={"resource_id": store_id}, headers=H)
    assert r.status_code == 422
    assert r.json() == {"msg": "Version locked", "detail": f"Version '1' for service '{sid}' is locked"}
    assert "Fastly-RateLimit-Remaining" in r.headers


def test_duplicate_link_name_is_409_duplicate_record(client, sid, store_id):
    form = {"resource_id": store_id, "name": "dup"}
    client.post(f"/service/{sid}/version/1/resource", data=form, headers=H)
    r = client.post(f"/service/{sid}/version/1/resource", data=form, headers=H)
    assert r.status_code == 409 and r.json()["msg"] == "Duplicate record"


def test_version_actions_and_details(client, sid):
    r = client.get(f"/service/{sid}/details", params={"filter[versions.active]": "true"}, headers=H)
    assert r.status_code == 200
    assert r.json()["active_version"] is None and r.json()["version"]["number"] == 1
    clone = client.put(f"/service/{sid}/version/1/clone", headers=H).json()
    assert set(clone) == VERSION_KEYS and clone["number"] == 2 and not clone["locked"]
    active = client.put(f"/service/{sid}/version/2/activate", headers=H).json()
    assert active["active"] and active["locked"]
    assert active["environments"] == [{"name": "production", "service_id": sid, "active_version": 2}]
    details = client.get(f"/service/{sid}/details?filter%5Bversions.active%5D=true", headers=H).json()
    assert details["active_version"]["number"] == 2 and details["id"] == sid
    staged = client.get(f"/service/{sid}/details?filter%5Bversions.staged%5D=true", headers=H).json()
    assert staged["version"] is None
    off = client.put(f"/service/{sid}/version/2/deactivate", headers=H).json()
    assert not off["active"] and off["locked"]
    created = client.post(f"/service/{sid}/version", data={"comment": "new"}, headers=H).json()
    assert created == {"comment": "new", "service_id": sid, "number": 3}


def test_search_list_paging_and_delete_service(client, sid):
    assert client.get("/service/search", params={"name": "web"}, headers=H).json()["id"] == sid
    assert client.get("/service/search", params={"name": "nope"}, headers=H).status_code == 404
    client.post("/service", data={"name": "second"}, headers=H)
    first = client.get("/service", params={"page": "1", "per_page": "1"}, headers=H)
    assert [s["name"] for s in first.json()] == ["web"]
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert first.json()[0]["version"] == 1
    last = client.get("/service", params={"page": "2", "per_page": "1"}, headers=H)
    assert [s["name"] for s in last.json()] == ["second"] and "Link" not in last.headers
    r = client.delete(f"/service/{sid}", headers=H)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert client.get(f"/service/{sid}", headers=H).status_code == 404


def test_service_endpoints_need_the_key(client, sid):
    assert client.get("/service", headers={"Fastly-Key": "wrong"}).status_code == 401
    assert client.get(f"/service/{sid}/version").status_code == 401


def test_bad_version_number_is_404(client, sid):
    r = client.get(f"/service/{sid}/version/abc", headers=H)
    assert r.status_code == 404 and r.json()["msg"] == "Record not found"


# ------------------------------------------------------------------------------------------- HTTP adapter
def _adapter(handler):
    from kvcli.api.http import HttpAdapter

    return HttpAdapter("https://api.example.test", "tok", transport=httpx.MockTransport(handler), max_attempts=1)


def _link(**over) -> dict:
    body = {
        "id": "L" * 22, "name": "n", "service_id": "S" * 22, "version": 3, "resource_id": "r" * 22,
        "resource_type": "kv-store", "created_at": "2023-01-19T11:28:14Z", "updated_at": "2023-01-19T11:28:14Z",
        "deleted_at": None, "href": None,
    }  # fmt: skip
    return body | over


def test_adapter_sends_form_bodies():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_link(name="myalias"))

    api = _adapter(handler)
    link = api.create_link("S" * 22, 3, "r" * 22, "myalias")
    req = seen[0]
    assert req.method == "POST" and req.url.path == f"/service/{'S' * 22}/version/3/resource"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.content.decode()) == {"name": ["myalias"], "resource_id": ["r" * 22]}
    assert req.headers["Fastly-Key"] == "tok"
    assert link.name == "myalias" and link.version == 3 and link.created_at.year == 2023
    api.update_link("S" * 22, 3, "L" * 22, name="x")
    assert seen[1].method == "PUT" and parse_qs(seen[1].content.decode()) == {"name": ["x"]}


def test_adapter_clone_is_an_empty_put_and_not_retried():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"msg": "busy"})

    from kvcli.api.http import HttpAdapter

    api = HttpAdapter(
        "https://api.example.test", "tok", transport=httpx.MockTransport(handler), max_attempts=3, sleep=lambda s: None
    )
    with pytest.raises(ServerError):
        api.clone_version("S" * 22, 1)
    assert len(calls) == 1
    assert calls[0].method == "PUT" and calls[0].headers.get("content-length") == "0"


def test_adapter_maps_version_locked_and_record_not_found():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(
                422, json={"msg": "Version locked", "detail": "Version '56' for service 'X' is locked"}
            )
        return httpx.Response(404, json={"msg": "Record not found", "detail": "Couldn't find Link 'x'"})

    api = _adapter(handler)
    with pytest.raises(VersionLocked) as exc:
        api.delete_link("X", 56, "L")
    assert exc.value.status == 422 and exit_code_for(exc.value) == 4 and "--" not in exc.value.hint
    from kvcli.cli.hints import worded

    assert "--autoclone" in (worded(exc.value)[1] or "")  # the CLI's words
    assert "Version locked" in str(exc.value)
    with pytest.raises(NotFound) as nf:
        api.get_link("X", 56, "L")
    assert "resource links" in nf.value.hint and "--" not in nf.value.hint
    assert worded(nf.value)[1] == "run 'kvcli resource-link list --service-id X --version 56'"


def test_adapter_follows_service_pages_and_reads_legacy_resource_type():
    pages = {
        "1": ([{"id": "A" * 22, "name": "a", "type": "wasm", "versions": [{"number": 1, "active": True}]}], True),
        "2": ([{"id": "B" * 22, "name": "b", "type": "vcl", "versions": []}], False),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/resource"):
            return httpx.Response(200, json=[_link(resource_type="object-store")])
        page = request.url.params["page"]
        items, more = pages[page]
        headers = {"Link": f'<https://api.example.test/service?page={int(page) + 1}>; rel="next"'} if more else {}
        return httpx.Response(200, content=json.dumps(items).encode(), headers=headers)

    api = _adapter(handler)
    services = api.list_services()
    assert [s.name for s in services] == ["a", "b"] and services[0].active_version == 1
    assert api.list_links("S", 3)[0].resource_type == "object-store"


def test_adapter_duplicate_is_conflict():
    api = _adapter(lambda r: httpx.Response(409, json={"msg": "Duplicate record", "detail": "Duplicate link"}))
    with pytest.raises(Conflict):
        api.create_link("S", 1, "r", "dup")


def test_adapter_updates_are_form_puts_and_retried():
    seen: list[httpx.Request] = []
    fail_first = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        fail_first["n"] += 1
        if fail_first["n"] in (1, 3):
            return httpx.Response(503, json={"msg": "busy"})
        if request.url.path.endswith("/version/4"):
            return httpx.Response(200, json={"number": 4, "service_id": "S" * 22, "comment": "c", "locked": False})
        return httpx.Response(200, json={"id": "S" * 22, "name": "new", "type": "wasm", "comment": "", "versions": []})

    from kvcli.api.http import HttpAdapter

    api = HttpAdapter(
        "https://api.example.test", "tok", transport=httpx.MockTransport(handler), max_attempts=2, sleep=lambda s: None
    )
    svc = api.update_service("S" * 22, name="new", comment="")
    assert svc.name == "new" and len(seen) == 2  # an update is idempotent: retried after the 503
    req = seen[1]
    assert req.method == "PUT" and req.url.path == f"/service/{'S' * 22}"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.content.decode(), keep_blank_values=True) == {"name": ["new"], "comment": [""]}
    v = api.update_version("S" * 22, 4, "c")
    assert v.number == 4 and v.comment == "c" and len(seen) == 4
    assert seen[3].method == "PUT" and seen[3].url.path == f"/service/{'S' * 22}/version/4"
    assert parse_qs(seen[3].content.decode()) == {"comment": ["c"]}
