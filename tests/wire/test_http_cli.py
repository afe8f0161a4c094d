"""`kvcli --endpoint URL …` goes through the HTTP adapter (a tiny stand-in API on 127.0.0.1, no kvcli server)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kvcli import __version__

TOKEN = "cli-secret-token"
STORE = {"id": "abc123", "name": "from-http", "created_at": "2025-06-23 19:41:15", "updated_at": "2025-06-23 19:41:15"}


@pytest.fixture
def fake_api():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append({"path": self.path, "headers": dict(self.headers)})
            if self.path.startswith("/resources/stores/kv/missing"):
                self._send(404, {"msg": "Record not found", "detail": "no store 'missing'"})
            elif self.path.startswith("/resources/stores/kv"):
                self._send(200, {"data": [STORE], "meta": {"limit": 1000, "total": 1}})
            else:
                self._send(404, {"msg": "Record not found"})

        def _send(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_endpoint_flag_uses_the_http_adapter(cli, fake_api):
    url, seen = fake_api
    res = cli("--endpoint", url, "-t", TOKEN, "kv-store", "list", "--json")
    assert res.exit_code == 0, res
    assert [(s["Name"], s["StoreID"]) for s in res.json()["Data"]] == [("from-http", "abc123")]
    assert seen[0]["path"] == "/resources/stores/kv"
    assert seen[0]["headers"]["Fastly-Key"] == TOKEN
    assert seen[0]["headers"]["User-Agent"] == f"kvcli/{__version__}"


def test_api_errors_become_one_line_and_the_exit_code(cli, fake_api):
    url, _ = fake_api
    res = cli("--endpoint", url, "kv-store", "describe", "--store-id", "missing")
    assert res.exit_code == 3, res
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "the Fastly API returned 404 Not Found: Record not found (no store 'missing')" in lines[0]
    assert "kvcli kv-store list" in lines[0]


def test_debug_mode_redacts_the_token(cli, fake_api):
    url, _ = fake_api
    res = cli("--endpoint", url, "-t", TOKEN, "--debug-mode", "kv-store", "list", "--json")
    assert res.exit_code == 0, res
    assert "Fastly-Key: [REDACTED]" in res.stderr
    assert "< 200 OK" in res.stderr
    assert TOKEN not in res.stderr and TOKEN not in res.stdout
    assert res.json()["Data"]  # stdout is still only the JSON document


def test_missing_token_for_a_remote_endpoint(cli):
    res = cli("--endpoint", "https://api.example.invalid", "kv-store", "list")
    assert res.exit_code == 1, res
    assert "no API token for https://api.example.invalid" in res.stderr
    assert "kvcli profile create" in res.stderr


def test_unreachable_endpoint(cli, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "1")
    res = cli("--endpoint", f"http://127.0.0.1:{port}", "kv-store", "list")
    assert res.exit_code == 1, res
    assert f"cannot connect to http://127.0.0.1:{port}" in res.stderr
    assert "is the server running?" in res.stderr
