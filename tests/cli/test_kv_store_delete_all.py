"""`kv-store delete --all` never empties a store it then cannot delete (issue 12, item 2).

On the embedded backend and through `kvcli local serve`, every reason the store cannot be deleted (a missing store,
a link from an active or editable service version) is checked before any key is deleted. Against an API that cannot
answer that check (Fastly), the confirmation and the --json output say the links were not checked.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kvcli.api import wire
from tests.served import LocalServe

KEYS = 30


def _fill(cli, base: list[str], store_id: str) -> None:
    for i in range(KEYS):
        res = cli(*base, "-q", "kv-store-entry", "create", "-s", store_id, "-k", f"k{i}", "--value", "v")
        assert res.exit_code == 0, res


def _linked_store(cli, base: list[str], *, active: bool) -> str:
    store_id = cli(*base, "kv-store", "create", "--name", "linked", "--json").json()["StoreID"]
    _fill(cli, base, store_id)
    sid = cli(*base, "service", "create", "--name", "web", "--json").json()["id"]
    res = cli(*base, "resource-link", "create", "-s", sid, "--version", "1", "-r", store_id)
    assert res.exit_code == 0, res
    if active:
        assert cli(*base, "service", "version", "activate", "-s", sid, "--version", "1").exit_code == 0
    return store_id


def _count(cli, base: list[str], store_id: str) -> int:
    res = cli(*base, "kv-store-entry", "list", "-s", store_id, "--json")
    assert res.exit_code == 0, res
    return len(res.json()["Data"] if isinstance(res.json(), dict) else res.json())


@pytest.fixture(params=["embedded", "local-serve"])
def base(request, isolated, tmp_path):
    if request.param == "embedded":
        yield []
        return
    serve = LocalServe(tmp_path / "served")
    try:
        yield ["--endpoint", serve.url]
    finally:
        serve.stop()


@pytest.mark.parametrize("active", [True, False])
def test_delete_all_of_a_linked_store_deletes_no_key(cli, base, active):
    store_id = _linked_store(cli, base, active=active)
    res = cli(*base, "-y", "kv-store", "delete", "-s", store_id, "--all")
    assert res.exit_code == 4, res
    assert "linked" in res.stderr and "resource-link delete" in res.stderr
    assert "Deleted keys" not in res.stderr
    assert _count(cli, base, store_id) == KEYS  # nothing was deleted
    assert cli(*base, "kv-store", "describe", "-s", store_id).exit_code == 0


def test_delete_all_of_an_unlinked_store_says_links_were_checked(cli, base):
    store_id = cli(*base, "kv-store", "create", "--name", "free", "--json").json()["StoreID"]
    _fill(cli, base, store_id)
    res = cli(*base, "-y", "kv-store", "delete", "-s", store_id, "--all", "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"id": store_id, "deleted": True, "links_checked": True}
    assert "not checked" not in res.stderr
    assert cli(*base, "kv-store", "describe", "-s", store_id).exit_code == 3


# ------------------------------------------------------------------------------------ an API without the check
@pytest.fixture
def fastly_like(tmp_path):
    """`kvcli local serve` behind a proxy that drops kvcli's delete pre-check header, as Fastly ignores it."""
    serve = LocalServe(tmp_path / "served")

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != wire.H_DELETE_CHECK.lower()}
            conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ["--endpoint", f"http://127.0.0.1:{server.server_address[1]}"]
    finally:
        server.shutdown()
        server.server_close()
        serve.stop()


def test_without_the_check_the_json_and_the_note_say_links_were_not_checked(cli, fastly_like):
    base = fastly_like
    store_id = cli(*base, "kv-store", "create", "--name", "free", "--json").json()["StoreID"]
    _fill(cli, base, store_id)
    res = cli(*base, "-y", "kv-store", "delete", "-s", store_id, "--all", "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"id": store_id, "deleted": True, "links_checked": False}
    assert "links from service versions were not checked" in res.stderr


def test_without_the_check_the_confirmation_prompt_says_links_were_not_checked(cli, fastly_like, monkeypatch):
    base = fastly_like
    store_id = cli(*base, "kv-store", "create", "--name", "free", "--json").json()["StoreID"]
    _fill(cli, base, store_id)
    monkeypatch.setattr("kvcli.cli.state.stdin_is_tty", lambda: True)
    res = cli(*base, "kv-store", "delete", "-s", store_id, "--all", input="n\n")
    assert res.exit_code == 0, res
    warning = [ln for ln in res.stderr.splitlines() if ln.startswith("WARNING:")]
    assert len(warning) == 1 and "links from service versions were not checked" in warning[0], res
    assert _count(cli, base, store_id) == KEYS


def test_without_the_check_a_linked_store_is_emptied_and_the_error_says_so(cli, fastly_like):
    base = fastly_like
    store_id = _linked_store(cli, base, active=True)
    res = cli(*base, "-y", "kv-store", "delete", "-s", store_id, "--all")
    assert res.exit_code == 4, res
    error = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1 and f"all {KEYS} keys" in error[0] and "the store was not deleted" in error[0], res
