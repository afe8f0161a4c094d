"""What `kvcli local serve` lets in from a browser and from other names (issue 12, items 7 and 11).

A web page can make a browser send requests to 127.0.0.1 (a cross-site ``POST`` with ``Content-Type: text/plain``
needs no CORS preflight) and, by DNS rebinding, with ``Host: attacker.example``. A server bound to a loopback address
answers only Host names that are loopback names or addresses (plus ``--allow-host`` names), and refuses any request
that carries a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site``. The discovery document names the server's own
address, never the request's Host.
"""

from __future__ import annotations

import warnings

import httpx
import pytest

from kvcli.local.engine import Engine
from tests.served import LocalServe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STORES = "/resources/stores/kv"
OIDC = "/realms/fastly/.well-known/openid-configuration"


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "kv.db")
    yield eng
    eng.close()


def test_the_discovery_document_names_the_server_not_the_request_host(engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from kvcli.local.server import create_app

    with TestClient(create_app(engine, base_url="http://127.0.0.1:7676")) as c:
        doc = c.get(OIDC, headers={"host": "other.example:1234"}).json()
    assert doc["issuer"] == "http://127.0.0.1:7676/realms/fastly"
    assert all("other.example" not in str(v) for v in doc.values())


def test_the_real_server_names_its_own_address_in_the_discovery_document(tmp_path):
    server = LocalServe(tmp_path / "data")
    try:
        r = httpx.get(server.url + OIDC, headers={"host": f"localhost:{server.port}"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["issuer"] == server.url + "/realms/fastly"
        assert r.json()["token_endpoint"].startswith(server.url + "/")
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------- Host and Origin
@pytest.fixture(scope="module", params=[None, "tok"], ids=["no-token", "token"])
def served(request, tmp_path_factory):
    server = LocalServe(tmp_path_factory.mktemp("exposed") / "data", "--allow-host", "kv.internal",
                        token=request.param)
    yield server
    server.stop()


@pytest.fixture
def key(served) -> dict[str, str]:
    return {"Fastly-Key": served.token} if served.token else {}


@pytest.fixture
def sid(served, key) -> str:
    import uuid

    r = httpx.post(served.url + STORES, json={"name": f"s-{uuid.uuid4().hex[:10]}"}, headers=key, timeout=10)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert httpx.put(f"{served.url}{STORES}/{sid}/keys/k", content=b"v", headers=key, timeout=10).status_code == 200
    return sid


def forbidden(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert set(body) == {"msg", "detail"} and body["msg"] == "Forbidden", body
    for word in words:
        assert word in body["detail"], body


def store_names(served, key) -> list[str]:
    return [s["name"] for s in httpx.get(served.url + STORES, headers=key, timeout=10).json()["data"]]


def test_a_cross_site_text_plain_post_cannot_create_a_store(served, key):
    """What a web page's <form> or fetch(..., {mode: "no-cors"}) sends: no preflight, so only the server can say no."""
    before = store_names(served, key)
    r = httpx.post(
        served.url + STORES,
        content=b'{"name":"planted-by-a-page"}',
        headers=key | {"content-type": "text/plain", "origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        timeout=10,
    )
    forbidden(r, "Origin", "evil.example")
    for headers in ({"origin": "null"}, {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
                    {"origin": f"http://localhost:{served.port + 1}"}):
        forbidden(httpx.post(served.url + STORES, json={"name": "planted-2"}, headers=key | headers, timeout=10))
    assert store_names(served, key) == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_a_rebound_host_name_is_refused_for_every_method(served, key, sid, method):
    url = f"{served.url}{STORES}/{sid}/keys/k"
    r = httpx.request(method, url, content=b"changed" if method == "PUT" else None,
                      headers=key | {"host": f"rebind.evil.example:{served.port}"}, timeout=10)
    assert r.status_code == 403
    if method != "HEAD":
        forbidden(r, "rebind.evil.example", "--allow-host")
    assert httpx.get(url, headers=key, timeout=10).content == b"v"  # nothing changed


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LocalHost.:{port}", "api.localhost:{port}", "127.9.8.7:{port}",
     "[::1]:{port}", "kv.internal:{port}", "KV.Internal", "127.0.0.1"],
)  # fmt: skip
def test_loopback_names_and_allowed_hosts_are_served(served, key, sid, host):
    r = httpx.get(f"{served.url}{STORES}/{sid}/keys/k", headers=key | {"host": host.format(port=served.port)},
                  timeout=10)
    assert r.status_code == 200 and r.content == b"v"


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example:{port}", "localhost.evil.example", "10.0.0.1:{port}",
             "[::2]:{port}", "kv.internal.evil.example", "0.0.0.0:{port}", "", "a b"],
)  # fmt: skip
def test_other_names_are_refused(served, key, sid, host):
    r = httpx.get(f"{served.url}{STORES}/{sid}/keys/k", headers=key | {"host": host.format(port=served.port)},
                  timeout=10)
    assert r.status_code in (400, 403), r.text  # 400: h11 itself refuses a malformed Host


def test_the_servers_own_origin_and_user_navigation_are_served(served, key, sid):
    url = f"{served.url}{STORES}/{sid}/keys/k"
    for headers in ({"origin": served.url}, {"origin": f"http://localhost:{served.port}"},
                    {"sec-fetch-site": "same-origin"}, {"sec-fetch-site": "none"}):
        assert httpx.get(url, headers=key | headers, timeout=10).status_code == 200, headers


def test_the_discovery_document_is_refused_to_a_rebound_host_too(served):
    forbidden(httpx.get(served.url + OIDC, headers={"host": "rebind.evil.example"}, timeout=10))


@pytest.fixture
def fake_runner(monkeypatch):
    """Bind loopback whatever --host says, and do not serve: records the app it would have served."""
    from kvcli.local import serve as runner

    real_bind = runner.bind
    apps: list = []
    monkeypatch.setattr(runner, "bind", lambda host, port: real_bind("127.0.0.1", 0))
    monkeypatch.setattr(runner, "run", lambda app, sock, **kw: apps.append(app))
    return apps


@pytest.mark.parametrize(
    "args, status",
    [([], 403), (["--host", "localhost"], 403), (["--allow-host", "testserver"], 200),
     (["--host", "0.0.0.0", "-t", "x"], 200)],
)  # fmt: skip
def test_the_host_check_applies_to_loopback_binds(cli, fake_runner, args, status):
    """The test client says ``Host: testserver``: refused on a loopback bind unless allowed; a server bound to
    another address is reached under whatever name its network gives it, so there the token is the protection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    res = cli("local", "serve", "--port", "0", *args)
    assert res.exit_code == 0, res
    with TestClient(fake_runner[0]) as c:
        assert c.get(STORES, headers={"Fastly-Key": "x"}).status_code == status


@pytest.mark.parametrize("name", ["", "a b", "evil.example/path", "http://x", "x:y:z"])
def test_a_malformed_allow_host_is_a_usage_error(cli, fake_runner, name):
    res = cli("local", "serve", "--port", "0", "--allow-host", name)
    assert res.exit_code == 2, res
    assert "--allow-host" in res.stderr and res.stderr.count("\n") == 1
    assert fake_runner == []
