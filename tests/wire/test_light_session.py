"""The light session (kvcli.api.http.light) against httpx's, on a raw-socket server (tests/wire/rawserver.py).

Each test runs the same calls through both sessions and compares what a user or a server can see: the request bytes
on the wire, values, error messages and hints, retries, connections used. Where the light session must reproduce a
fixed fact (httpx's words for a refused connection, the certificate hint), that is asserted too.
"""

from __future__ import annotations

import gzip
import importlib.util
import random
import socket
import ssl
import threading
from pathlib import Path

import pytest

from kvcli.api import errors as E
from kvcli.api.http import HttpAdapter
from tests.wire.rawserver import CLOSE, RawServer, Seen, drip, response

SESSIONS = ("httpx", "light")
TOKEN = "tok-en"
ITEM = {"Generation": "17", "Metadata": "m", "Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT"}


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "SSL_CERT_FILE",
                 "SSL_CERT_DIR", "KVCLI_HTTP_MAX_ATTEMPTS", "KVCLI_HTTP_TIMEOUT", "KVCLI_HTTP_DEADLINE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def adapter(kind: str, url: str, **kw) -> HttpAdapter:
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("rng", random.Random(7))
    api = HttpAdapter(url, TOKEN, light=kind == "light", **kw)
    assert type(api._session).__name__ == ("LightSession" if kind == "light" else "HttpxSession")
    return api


def outcome(call, url: str = "") -> tuple:
    """What a caller sees of a call: its value, or the error's class, message, hint and reason (the server's
    address, which differs from run to run, replaced by URL)."""
    try:
        return ("ok", call())
    except E.KvcliError as exc:
        return (type(exc).__name__, exc.message.replace(url or "\0", "URL"), exc.hint, exc.reason)


def on_both(answer, calls, endpoint="{url}", **kw) -> list[tuple[list[tuple], list[Seen], int]]:
    """For each session: the outcomes of ``calls(api)``, the requests the server saw, the connections used."""
    results = []
    for kind in SESSIONS:
        with RawServer(answer, close_after=kw.pop("close_after", False)) as server:
            api = adapter(kind, endpoint.format(url=server.url, port=server.port), **kw)
            try:
                got = [outcome(lambda c=c: c(api), server.url) for c in calls]
            finally:
                api.close()
            port = f":{server.port}\r\n".encode()  # in the Host header
            seen = [Seen(s.raw.replace(port, b":PORT\r\n"), s.connection) for s in server.seen]
            results.append((got, seen, server.connections))
    return results


def by_method(seen: Seen, index: int) -> bytes:
    method = seen.head.split(b" ", 1)[0]
    if method == b"HEAD":
        return response(headers=ITEM | {"Stored-Content-Length": "5"}, length=False) + b""
    if method == b"POST":
        return response(body=b'{"id":"s1","name":"n"}', headers={"Content-Type": "application/json"})
    if method == b"PUT":
        return response()
    if method == b"DELETE":
        return response(status=204, reason="No Content", length=False)
    target = seen.head.split(b" ")[1]
    if b"/keys/" in target:
        return response(body=b"value", headers=ITEM)
    return response(body=b'{"data":[],"meta":{}}', headers={"Content-Type": "application/json"})


# ------------------------------------------------------------------------------------------------------ the wire
def test_the_same_bytes_on_the_wire_as_httpx():
    """Method, target and query encoding, Host, Accept, Accept-Encoding, Connection, User-Agent, Fastly-Key,
    Content-Type, Content-Length and the metadata header: byte for byte, in the same order and spelling."""
    from kvcli.api.models import PutMode

    calls = [
        lambda a: a.list_stores(cursor="a b/c&d=é", limit=5),
        lambda a: a.get_item("s1", "k ey/ü@%:+&=.."),
        lambda a: a.describe_item("s1", "k1"),
        lambda a: a.put_item("s1", "k1", b"\x00\xffv", metadata="m\u00e9ta {x}", ttl=60, if_generation_match=3),
        lambda a: a.put_item("s1", "k2", b"", mode=PutMode.APPEND),
        lambda a: a.delete_item("s1", "k1", force=True),
        lambda a: a.create_store("n", location="US"),
        lambda a: a.list_keys("s1", prefix="p+q", limit=2, consistency="eventual"),
    ]
    (full, full_seen, full_conns), (light, light_seen, light_conns) = on_both(by_method, calls)
    assert full == light and all(o[0] == "ok" for o in light), light
    assert [s.raw for s in light_seen] == [s.raw for s in full_seen]
    assert b"Fastly-Key: tok-en" in light_seen[0].raw and b"cursor=a+b%2Fc%26d%3D%C3%A9" in light_seen[0].raw
    assert (full_conns, light_conns) == (1, 1)  # one keep-alive connection, reused


@pytest.mark.parametrize("endpoint", ["HTTP://LOCALHOST:{port}/", "http://127.0.0.1:{port}/api/v1"])
def test_the_endpoint_is_normalised_as_httpx_does(endpoint):
    """Host and target from an endpoint with upper case, a trailing slash or a path prefix: as httpx sends them, and
    as its messages show the URL."""
    def answer(seen, i):
        return response(404, b"", reason="Not Found") if i else response(body=b'{"data":[]}')

    calls = [lambda a: a.list_stores(limit=1), lambda a: a.get_item("s", "k")]
    (full, full_seen, _), (light, light_seen, _) = on_both(answer, calls, endpoint=endpoint)
    assert light == full and light[1][0] == "NotFound", light
    assert [s.raw for s in light_seen] == [s.raw for s in full_seen]


# ----------------------------------------------------------------------------------------------------- bodies
def test_chunked_and_read_to_close_bodies():
    chunked = (b"HTTP/1.1 200 OK\r\nGeneration: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n")  # fmt: skip
    to_close = lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nGeneration: 3\r\n\r\nuntil the end") and False  # noqa: E731
    replies = [chunked, chunked, to_close, chunked]

    def answer(seen, i):
        return replies[i]

    calls = [lambda a: a.get_item("s", "k").value] * 4
    (full, _, full_conns), (light, _, light_conns) = on_both(answer, calls)
    assert light == full == [("ok", b"hello world"), ("ok", b"hello world"), ("ok", b"until the end"),
                             ("ok", b"hello world")]  # fmt: skip
    assert light_conns == full_conns == 2  # a body read to the close ends that connection


@pytest.mark.parametrize("reply", [
    response(body=b"12345", headers=ITEM)[:-2],  # shorter than its Content-Length
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # a chunk cut short
    b"HTTP/1.1 200 OK\r\nContent-Le",  # a head cut short
    b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",  # a malformed status line
    b"HTTP/1.1 200 OK\r\nbad header line\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 200_000 + b"\r\n\r\n",  # a head larger than httpcore's 100 KiB
], ids=["truncated", "truncated-chunk", "cut-head", "status-line", "header-line", "two-lengths", "huge-head"])
def test_broken_answers_fail_as_with_httpx(reply):
    def answer(seen, i):
        return lambda conn: conn.sendall(reply) and False

    (full, seen_full, _), (light, seen_light, _) = on_both(answer, [lambda a: a.get_item("s", "k")], max_attempts=2)
    assert light == full and light[0][0] == "TransportError", light
    assert len(seen_light) == len(seen_full) == 2  # a GET: tried again


def test_a_body_that_drips_past_the_deadline_is_cut_off():
    import re

    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    (full, _, _), (light, _, _) = on_both(lambda s, i: drip(head), [lambda a: a.list_stores()], deadline=0.3,
                                          max_attempts=1)  # fmt: skip

    def dripped(o: tuple) -> tuple:  # how many bytes arrived in time depends on the machine's load
        return (o[0], re.sub(r"; \d+ bytes of the answer", "; N bytes of the answer", o[1]), *o[2:])

    assert [dripped(o) for o in light] == [dripped(o) for o in full], light
    assert "did not finish answering GET within 0.3 s" in light[0][1]


def test_oversize_answers_and_gzip_bombs_stop_at_the_bound():
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    replies = [response(body=b"[" + b" " * 5000 + b"]"),
               response(body=bomb, headers={"Content-Encoding": "gzip"})]  # fmt: skip
    calls = [lambda a: a.list_stores(), lambda a: a.list_stores()]
    (full, _, _), (light, _, _) = on_both(lambda s, i: replies[i], calls, max_response_bytes=4096)
    assert light == full, light
    assert [o[3] for o in light] == ["answer_too_large", "answer_too_large"]


def test_gzip_and_deflate_answers_are_decoded():
    import zlib

    body = b'{"data":[{"id":"a","name":"b"}],"meta":{}}'
    replies = [response(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}),
               response(body=zlib.compress(body), headers={"Content-Encoding": "deflate"}),
               response(body=gzip.compress(body), headers={"Content-Encoding": "identity, gzip"}),
               response(body=b"corrupt", headers={"Content-Encoding": "gzip"})]  # fmt: skip
    calls = [lambda a: [s.name for s in a.list_stores().items]] * 4
    (full, _, _), (light, _, _) = on_both(lambda s, i: replies[i], calls, max_attempts=1)
    assert light == full and light[:3] == [("ok", ["b"])] * 3 and light[3][3] == "body_corrupt", light


# --------------------------------------------------------------------------------------------------- retries
def test_429_with_retry_after_is_waited_for_then_retried():
    replies = [response(429, b"", {"Retry-After": "2"}, "Too Many Requests"), response(body=b'{"data":[]}')]
    sleeps: dict[str, list[float]] = {}
    for kind in SESSIONS:
        sleeps[kind] = []
        with RawServer(lambda s, i: replies[i]) as server:
            api = adapter(kind, server.url, sleep=sleeps[kind].append)
            assert api.list_stores().items == []
            api.close()
    assert sleeps["light"] == sleeps["httpx"] and 2 <= sleeps["light"][0] < 3


def test_connection_refused_is_worded_as_httpx_words_it():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    got = {}
    for kind in SESSIONS:
        api = adapter(kind, f"http://127.0.0.1:{port}", max_attempts=2)
        got[kind] = outcome(lambda: api.list_stores())
    assert got["light"] == got["httpx"]
    assert got["light"][1].startswith(f"cannot connect to http://127.0.0.1:{port}: [Errno 111] Connection refused")


def test_a_kept_alive_connection_the_server_closed_is_replaced():
    """The server answers, then closes the idle connection: the next request (even an append, which is never
    repeated once it may have arrived) goes out on a fresh connection, as httpcore's pool does."""
    from kvcli.api.models import PutMode

    for kind in SESSIONS:
        with RawServer(lambda s, i: response(body=b'{"data":[]}'), close_after=True) as server:
            api = adapter(kind, server.url)
            api.list_stores()
            assert server.closed.wait(10)
            api.put_item("s", "k", b"v", mode=PutMode.APPEND)
            assert [s.connection for s in server.seen] == [0, 1], kind
            api.close()


def test_a_connection_dropped_after_the_request_arrived_is_retried_only_when_safe():
    from kvcli.api.models import PutMode

    def answer(seen, i):  # the first request is answered, the next one is read and left unanswered
        return response(body=b'{"data":[]}') if i % 2 == 0 else CLOSE

    calls = [lambda a: a.list_stores(), lambda a: a.list_stores(),
             lambda a: a.list_stores(), lambda a: a.put_item("s", "k", b"v", mode=PutMode.APPEND)]  # fmt: skip
    (full, seen_full, _), (light, seen_light, _) = on_both(answer, calls, max_attempts=3)
    assert light == full, light
    assert light[:3] == [("ok", light[0][1])] * 3  # the GET was repeated on a fresh connection
    assert light[3][0] == "TransportError" and "may or may not have been applied" in light[3][2]
    assert [s.connection for s in seen_light] == [s.connection for s in seen_full]
    assert [s.head.split(b" ")[0] for s in seen_light].count(b"PUT") == 1  # the append once, never repeated


# ------------------------------------------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    root = Path(__file__).resolve().parents[2]
    loaded = importlib.util.spec_from_file_location("latency_proxy", root / "benchmarks" / "latency_proxy.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    where = tmp_path_factory.mktemp("tls")
    try:
        module.make_certificate(where / "cert.pem", where / "key.pem")
    except (OSError, RuntimeError) as exc:  # neither cryptography nor openssl
        pytest.skip(f"no way to make a throw-away certificate: {exc}")
    return where / "cert.pem", where / "key.pem"


def _tls_server(certificate) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


def test_tls_trusted_through_ssl_cert_file(certificate, monkeypatch, tmp_path):
    """SSL_CERT_FILE trusts the certificate; the connection is kept alive over TLS; ALPN offers http/1.1 only; and
    SSLKEYLOGFILE is honoured (ssl.create_default_context reads it, for both sessions)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    got = {}
    for kind in SESSIONS:
        keylog = tmp_path / f"{kind}.keys"
        monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
        offered: list[list[str]] = []
        tls = _tls_server(certificate)
        tls.set_alpn_protocols(["h2", "http/1.1"])
        with RawServer(lambda s, i: response(body=b"v", headers=ITEM), tls=tls) as server:
            api = adapter(kind, server.url)
            got[kind] = [outcome(lambda: api.get_item("s", "k").value), outcome(lambda: api.get_item("s", "k").value)]
            got[kind].append(server.connections)
            api.close()
            offered.append(server.alpn)
        got[kind].append(offered)
        got[kind].append(keylog.exists() and b"CLIENT_" in keylog.read_bytes())
    assert got["light"] == got["httpx"] == [("ok", b"v"), ("ok", b"v"), 1, [["http/1.1"]], True]


def test_an_untrusted_certificate_fails_at_once_with_the_certificate_hint(certificate):
    got = {}
    for kind in SESSIONS:
        with RawServer(lambda s, i: response(), tls=_tls_server(certificate)) as server:
            api = adapter(kind, server.url, max_attempts=5)
            got[kind] = outcome(lambda: api.list_stores(), server.url)
            got[kind] += (server.connections,)
    assert got["light"] == got["httpx"]
    assert "is not trusted: [SSL: CERTIFICATE_VERIFY_FAILED]" in got["light"][1]
    assert "SSL_CERT_FILE" in got["light"][2] and got["light"][-1] == 1  # not retried


# ------------------------------------------------------------------------------------------------- the choice
@pytest.mark.parametrize("name", ["HTTP_PROXY", "https_proxy", "ALL_PROXY", "All_Proxy"])
def test_a_proxy_variable_means_httpx(monkeypatch, name):
    monkeypatch.setenv(name, "http://127.0.0.1:9")
    api = HttpAdapter("http://127.0.0.1:1", TOKEN, light=True)
    assert type(api._session).__name__ == "HttpxSession"


@pytest.mark.parametrize("kw", [{"debug": True}, {"transport": object()}])
def test_debug_output_and_a_transport_mean_httpx(kw):
    if "transport" in kw:
        import httpx

        kw = {"transport": httpx.MockTransport(lambda r: httpx.Response(200))}
    api = HttpAdapter("http://127.0.0.1:1", TOKEN, light=True, **kw)
    assert type(api._session).__name__ == "HttpxSession"


def test_threads_share_the_light_session_safely():
    with RawServer(lambda s, i: response(body=b'{"data":[]}')) as server:
        api = adapter("light", server.url)
        errors: list[BaseException] = []

        def work():
            try:
                for _ in range(20):
                    api.list_stores()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        api.close()
        assert errors == [] and len(server.seen) == 80 and server.connections <= 4


@pytest.mark.parametrize("module", ["brotli", "zstandard"])
def test_a_decoder_only_httpx_has_means_httpx(monkeypatch, tmp_path, module):
    """With brotli or zstandard importable httpx would send another Accept-Encoding (and decode br or zstd)."""
    (tmp_path / f"{module}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(HttpAdapter("http://127.0.0.1:1", TOKEN, light=True)._session).__name__ == "HttpxSession"
    monkeypatch.undo()
    assert type(HttpAdapter("http://127.0.0.1:1", TOKEN, light=True)._session).__name__ == "LightSession"


@pytest.mark.parametrize("url", ["http://user:pw@127.0.0.1:1", "http://127.0.0.1:1/a b", "http://127.0.0.1:1/./x"])
def test_an_endpoint_httpx_would_rewrite_means_httpx(url):
    assert type(HttpAdapter(url, TOKEN, light=True)._session).__name__ == "HttpxSession"


def test_the_library_and_the_full_cli_keep_httpx(monkeypatch, tmp_path):
    """Only the click-free fast path asks for the light session: kvcli.connect() and the Typer commands use httpx."""
    import kvcli
    from kvcli.cli.state import State

    with kvcli.connect(endpoint="http://127.0.0.1:1", token=TOKEN) as kv:
        assert type(kv.api._session).__name__ == "HttpxSession"
    monkeypatch.setenv("KVCLI_CONFIG_DIR", str(tmp_path))
    state = State.from_flags(token=TOKEN, endpoint="http://127.0.0.1:1")
    assert type(state.api()._session).__name__ == "HttpxSession"
    state.close()
    state = State.from_flags(token=TOKEN, endpoint="http://127.0.0.1:1")
    state.light = True  # what kvcli.cli.fast sets
    assert type(state.api()._session).__name__ == "LightSession"
    state.close()


@pytest.mark.parametrize("method,kw", [
    ("GET", {"params": {"cursor": "a b/c&d=é~*'()", "limit": "5"}}),
    ("POST", {"json": {"name": "ünï \u2603", "n": [1, 2.5, None, True]}}),
    ("POST", {"form": {"resource_id": "a b", "name": "x&y"}}),
    ("POST", {}),
    ("PUT", {"content": b""}),
    ("PATCH", {"content": b"x" * 70_000}),
    ("DELETE", {"params": {"force": "true"}}),
    ("PUT", {"content": b"v", "headers": {"content-type": "application/octet-stream", "metadata": b"\xc3\xa9",
                                          "accept": "text/plain", "user-agent": "other"}}),  # fmt: skip
    ("GET", {"headers": {"Connection": "close", "ACCEPT-ENCODING": "identity"}}),
])  # fmt: skip
def test_requests_are_built_as_httpx_builds_them(method, kw):
    """The light session's request for every way FastlyHttp calls build(): headers (names, values, order), target
    and body, against httpx.Client.build_request with kvcli's client settings."""
    import httpx

    from kvcli.api.http.client import USER_AGENT
    from kvcli.api.http.light import light_session
    from kvcli.api.http.session import Timeout

    url = "http://127.0.0.1:7676/service/s%2F1/x"
    args = {"params": None, "json": None, "form": None, "content": None, "headers": {}} | kw
    light = light_session("http://127.0.0.1:7676", Timeout.of(5, 5), USER_AGENT)
    assert light is not None
    ours = light.build(method, url, **args)
    with httpx.Client(headers={"User-Agent": USER_AGENT}) as client:
        theirs = client.build_request(method, url, params=args["params"], json=args["json"], data=args["form"],
                                      content=args["content"], headers=args["headers"])  # fmt: skip
    assert ours.headers.raw == theirs.headers.raw
    assert (ours.target, ours.content, ours.url) == (theirs.url.raw_path, theirs.content, str(theirs.url))
