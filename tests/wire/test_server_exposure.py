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
