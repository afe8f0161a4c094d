"""`kvcli local serve`: token checks, the OIDC discovery document, routing, and the router's extension point."""

from __future__ import annotations

import warnings

import pytest
from starlette.responses import Response

from kvcli.local.engine import Engine
from kvcli.local.server import ROUTE_MODULES, Call, Router, build_router, create_app, json_response

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "s3cret-token"
AUTH_BODY = {"msg": "Provided credentials are missing or invalid"}
OIDC = "/realms/fastly/.well-known/openid-configuration"


def make_client(app, base_url: str = "http://testserver"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app, base_url=base_url)


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "kv.db")
    yield eng
    eng.close()


@pytest.fixture
def guarded(engine):
    with make_client(create_app(engine, token=TOKEN)) as c:
        yield c


@pytest.fixture
def open_client(engine):
    with make_client(create_app(engine)) as c:
        yield c


@pytest.mark.parametrize("headers", [{}, {"Fastly-Key": "wrong"}, {"Fastly-Key": ""}, {"Authorization": TOKEN}])
def test_a_missing_or_wrong_key_is_401(guarded, headers):
    r = guarded.get("/resources/stores/kv", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    assert r.json() == AUTH_BODY


def test_the_right_key_in_any_header_case_is_accepted(guarded):
    assert guarded.get("/resources/stores/kv", headers={"Fastly-Key": TOKEN}).status_code == 200
    assert guarded.get("/resources/stores/kv", headers={"fastly-key": TOKEN}).status_code == 200


def test_writes_without_the_key_change_nothing(guarded, engine):
    r = guarded.post("/resources/stores/kv", json={"name": "sneaky"})
    assert r.status_code == 401
    assert engine.list_stores().items == []


def test_unknown_paths_need_the_key_too(guarded):
    assert guarded.get("/nope").status_code == 401
    assert guarded.get("/nope", headers={"Fastly-Key": TOKEN}).status_code == 404


def test_without_a_configured_token_any_key_or_none_is_accepted(open_client):
    for headers in ({}, {"Fastly-Key": "anything"}, {"Fastly-Key": "x" * 100}):
        assert open_client.get("/resources/stores/kv", headers=headers).status_code == 200


def test_the_oidc_document_needs_no_key_and_points_at_the_server(engine):
    with make_client(create_app(engine, token=TOKEN), base_url="http://127.0.0.1:7676") as c:
        r = c.get(OIDC)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert doc[field].startswith("http://127.0.0.1:7676/realms/fastly"), field
    assert doc["issuer"] == "http://127.0.0.1:7676/realms/fastly"


def test_unknown_paths_are_404_and_wrong_methods_405(open_client):
    r = open_client.get("/resources/stores/kv/abc/nothing")
    assert r.status_code == 404 and r.json()["msg"] == "Record not found"
    r = open_client.patch("/resources/stores/kv")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    assert open_client.get("/").status_code == 404


def test_a_trailing_slash_is_ignored(open_client):
    assert open_client.get("/resources/stores/kv/").json() == {"data": [], "meta": {"limit": 1000, "total": 0}}


def test_head_falls_back_to_get_without_a_body(open_client):
    r = open_client.head("/resources/stores/kv")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == len(open_client.get("/resources/stores/kv").content)


def test_an_unexpected_failure_is_a_500_legacy_body(engine, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "list_stores", boom)
    with make_client(create_app(engine)) as c:
        r = c.get("/resources/stores/kv")
    assert r.status_code == 500
    assert r.json() == {"msg": "Internal server error", "detail": "RuntimeError: disk on fire"}


def test_create_app_opens_a_data_directory(tmp_path):
    with make_client(create_app(tmp_path / "data")) as c:
        assert c.post("/resources/stores/kv", json={"name": "x"}).status_code == 201
    assert (tmp_path / "data" / "kvcli.db").is_file()
    eng = Engine.in_dir(tmp_path / "data")
    try:
        assert [s.name for s in eng.list_stores().items] == ["x"]
    finally:
        eng.close()


# ---------------------------------------------------------------------------------------------- extension point
def test_routes_can_be_added_to_a_running_app(engine):
    app = create_app(engine, token=TOKEN)

    def hello(call: Call) -> Response:
        return json_response({"sid": call.params["sid"], "q": call.q("x"), "n": len(call.engine.list_stores().items)})

    app.state.router.add("GET", "/service/{sid}/hello", hello)
    with make_client(app) as c:
        r = c.get("/service/a%2Fb/hello?x=1", headers={"Fastly-Key": TOKEN})
        assert r.json() == {"sid": "a/b", "q": "1", "n": 0}
        assert c.get("/service/a/hello").status_code == 401  # added routes are guarded too


def test_build_router_registers_extension_modules_and_skips_missing_ones(monkeypatch):
    import sys
    import types

    module = types.ModuleType("kvcli_test_ext_routes")

    def register(router: Router) -> None:
        router.add("GET", "/ext", lambda call: json_response({"ok": True}), public=True)

    module.register = register
    monkeypatch.setitem(sys.modules, "kvcli_test_ext_routes", module)
    router = build_router(["kvcli_test_no_such_module", "kvcli_test_ext_routes"])
    route, params, _ = router.match("GET", ["ext"])
    assert route is not None and route.public and params == {}
    assert "kvcli.local.server_services" in ROUTE_MODULES


def test_a_broken_extension_module_is_not_silently_skipped(monkeypatch, tmp_path):
    (tmp_path / "kvcli_test_broken_ext.py").write_text("import kvcli_test_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        build_router(["kvcli_test_broken_ext"])
