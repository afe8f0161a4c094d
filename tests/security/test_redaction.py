"""Secrets never reach what kvcli writes, and text from a server (or a stored key) cannot drive the terminal.

* the token is redacted wherever it stands in a known place (a header, a URL, a named field, a server's echo of a
  request header), whatever its length, and anywhere as a substring once it is long enough (6+ characters);
* credentials in an endpoint URL (``http://user:password@host``) are never printed or written to a journal;
* control characters from a server or a key are shown escaped (``\\x1b``) in messages, while ``get`` still writes
  a value's bytes unchanged.
"""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kvcli.api import errors as E
from kvcli.api.http import HttpAdapter
from kvcli.redact import REDACTED, redact, redact_url, visible

SHORT = "Q7zXw"  # under the substring threshold: only known places can be found
LONG = "kvT0ken-reflected-9f3c1e7a"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m"


# ------------------------------------------------------------------------------------------ the one function
@pytest.mark.parametrize("token", [SHORT, LONG, "Z", "Zq"])
@pytest.mark.parametrize(
    "template",
    [
        '{{"headers": {{"fastly-key": "{t}"}}}}',
        '{{"Fastly-Key": "{t}", "other": 1}}',
        "{{'fastly-key': '{t}'}}",  # a Python repr
        '[["Fastly-Key", "{t}"]]',  # headers echoed as pairs
        "Fastly-Key: {t}\nUser-Agent: x",  # a plain-text echo
        "fastly-key:{t}",
        "Authorization: Bearer {t}",
        '{{"token": "{t}"}}',
        '{{"api_token":"{t}"}}',
        "GET /x?token={t}&a=1",
        "https://{t}@api.example.com/x",
        "https://user:{t}@api.example.com/x",
        'you sent "{t}"',  # the token as a whole quoted string
    ],
)
def test_the_token_is_redacted_in_known_places_whatever_its_length(token, template):
    text = template.format(t=token)
    out = redact(text, secrets=[token])
    assert token not in out.replace(REDACTED, ""), out
    assert REDACTED in out


def test_a_long_token_is_redacted_anywhere_and_a_short_one_does_not_mangle_text():
    assert redact(f"x{LONG}y", secrets=[LONG]) == f"x{REDACTED}y"
    assert redact("the API token: pass -t/--token", secrets=["token"]) == "the API token: pass -t/--token"
    assert redact("abc is in abcdef", secrets=["abc"]) == "abc is in abcdef"
    assert redact(f"{REDACTED} and Fastly-Key: {REDACTED}") == f"{REDACTED} and Fastly-Key: {REDACTED}"  # idempotent


def test_url_credentials_are_removed_and_the_rest_kept():
    assert redact_url("http://user:pw@127.0.0.1:7676/p") == f"http://{REDACTED}@127.0.0.1:7676/p"
    assert redact_url("https://api.fastly.com") == "https://api.fastly.com"
    assert redact("cannot connect to http://u:p@h:1: refused") == f"cannot connect to http://{REDACTED}@h:1: refused"


def test_control_characters_become_visible():
    assert visible(ESCAPES) == "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x9b1m"
    assert visible("a\u202eb") == "a\\u202eb"  # a bidi override cannot reorder the line either
    assert visible("tab\tand é ok") == "tab\tand é ok"


# ------------------------------------------------------------------------------------------ the adapter
def _reflecting(status: int = 400):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"msg": "Reflected", "detail": f"you sent {dict(request.headers)}"})

    return handler


@pytest.mark.parametrize("token", [SHORT, LONG])
def test_an_error_built_from_a_reflecting_server_holds_no_token(token):
    api = HttpAdapter("http://127.0.0.1:1", token, transport=httpx.MockTransport(_reflecting()),
                      rng=random.Random(0))
    with pytest.raises(E.ApiError) as info:
        api.list_stores()
    err = info.value
    assert "Reflected" in err.message
    for text in (err.message, err.detail, err.title, str(err)):
        assert token not in text, text


# -------------------------------------------------------------------------------------------- the CLI
@pytest.fixture
def reflecting_server():
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            headers = dict(self.headers)
            if self.path.startswith("/resources/stores/kv/escape"):
                doc = {"msg": "Internal", "detail": ESCAPES}
                status = 400
            else:
                doc = {"msg": "Reflected", "detail": json.dumps({"headers": headers})}
                status = 400
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815 - http.server's naming

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("token", [SHORT, LONG])
def test_cli_error_lines_and_debug_tracebacks_hold_no_token(cli, reflecting_server, token):
    for args in (["kv-store", "list"], ["--debug-mode", "kv-store", "list"],
                 ["kv-store-entry", "get", "--store-id", "s1", "-k", "k"]):
        res = cli("-t", token, "--endpoint", reflecting_server, *args)
        assert res.exit_code == 2, res
        assert "Reflected" in res.stderr
        assert token not in res.stderr and token not in res.stdout, res
    debug = cli("--debug-mode", "-t", token, "--endpoint", reflecting_server, "kv-store", "list")
    assert "Traceback" in debug.stderr and "Fastly-Key: [REDACTED]" in debug.stderr


def test_cli_endpoint_credentials_are_never_printed(cli, reflecting_server, tmp_path):
    secret = "pa55word-in-url"
    url = reflecting_server.replace("http://", f"http://admin:{secret}@")
    outputs = [
        cli("-v", "--endpoint", url, "kv-store", "list"),
        cli("--debug-mode", "--endpoint", url, "kv-store", "list"),
        cli("--endpoint", url.rsplit(":", 1)[0] + ":1", "kv-store", "list",  # cannot connect
            env={"KVCLI_HTTP_MAX_ATTEMPTS": "1"}),
        cli("profile", "create", "creds", "--endpoint", url, "-t", LONG),
        cli("profile", "list"),
        cli("profile", "list", "--json"),
    ]
    assert outputs[0].exit_code == 2 and "Using Fastly API at http://[REDACTED]@127.0.0.1" in outputs[0].stderr
    assert "cannot connect" in outputs[2].stderr
    for res in outputs:
        assert secret not in res.stderr and secret not in res.stdout, res
        assert "admin:" not in res.stderr + res.stdout, res


def test_the_resume_journal_holds_no_endpoint_credentials(cli, isolated, tmp_path):
    from tests.reliability.conftest import Server

    srv = Server(tmp_path / "served").start()
    try:
        secret = "journal-pa55word"
        url = srv.url.replace("http://", f"http://admin:{secret}@")
        sid = cli("--endpoint", url, "kv-store", "create", "--name", "j", "--json").json()["StoreID"]
        src = tmp_path / "in.ndjson"
        src.write_text("".join(json.dumps({"key": f"k{i}", "value": "YQ=="}) + "\n" for i in range(5)))
        res = cli("--endpoint", url, "kv-store-entry", "create", "--store-id", sid, "--file", str(src))
        assert res.exit_code == 0, res
        journals = list((isolated["data"] / "imports").glob("*.journal"))
        assert journals, "the import wrote no journal"
        for j in journals:
            text = j.read_text()
            assert secret not in text and "admin" not in text, text
            assert srv.url.split("//", 1)[1] in text  # the host is still recorded
        assert secret not in res.stderr
    finally:
        srv.stop()


def test_cli_server_escape_sequences_are_shown_escaped(cli, reflecting_server):
    res = cli("--endpoint", reflecting_server, "kv-store", "describe", "--store-id", "escape")
    assert res.exit_code == 2, res
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr and "\x9b" not in res.stderr, res
    assert "\\x1b]0;pwned\\x07" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_a_stored_key_with_escapes_is_shown_escaped_and_get_keeps_value_bytes(cli, store_id):
    key = "k\x1b[2Jtitle\x07"
    value = ESCAPES.encode("utf-8")
    res = cli("kv-store-entry", "create", "--store-id", store_id, "-k", key, "--value", ESCAPES)
    assert res.exit_code == 0, res
    assert "\x1b" not in res.stderr and "\\x1b[2Jtitle\\x07" in res.stderr, res
    got = cli("kv-store-entry", "get", "--store-id", store_id, "-k", key)
    assert got.exit_code == 0 and got.stdout_bytes == value  # data, not a message: unchanged
    gone = cli("kv-store-entry", "delete", "--store-id", store_id, "-k", key)
    assert gone.exit_code == 0 and "\x1b" not in gone.stderr, gone


def test_the_debug_dump_escapes_server_text(cli, reflecting_server):
    res = cli("--debug-mode", "--endpoint", reflecting_server, "kv-store", "describe", "--store-id", "escape")
    assert "[debug] <" in res.stderr
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr, res

