"""The light session (kvcli.api.http.light) against a hostile or broken server: each test is an attack a reviewer
tried, kept so the defect it found stays fixed (docs/http.md, "Sessions"). Where httpx behaves differently, the test
says which way and why the light session's way is the one kept."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.wire.rawserver import RawServer, response
from tests.wire.test_light_session import ITEM, SESSIONS, _no_proxy_env, adapter, on_both, outcome  # noqa: F401

STORES = b'{"data":[{"id":"%s","name":"n"}],"meta":{}}'


# ------------------------------------------------------------------------------------------- connection reuse
def test_bytes_after_an_answer_are_never_taken_as_the_next_answer():
    """A server (or a proxy in between) sends a second, forged answer right behind the first, in the same packet: the
    next request must be answered by the server, on a new connection, not by the leftover bytes (response desync).
    httpx (h11) keeps such bytes and hands them to the next request; the light session drops the connection."""
    forged = response(body=STORES % b"real") + response(body=STORES % b"FORGED")
    replies = [forged, response(body=STORES % b"second")]
    with RawServer(lambda s, i: replies[min(i, 1)]) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: [s.id for s in api.list_stores().items]) for _ in range(2)]
        api.close()
    assert got == [("ok", ["real"]), ("ok", ["second"])]
    assert [s.connection for s in server.seen] == [0, 1]


def test_a_body_sent_with_the_answer_to_head_is_not_the_next_answer():
    """An answer to HEAD has no body whatever its Content-Length says: bytes that follow it in the same packet (here a
    forged answer) close the connection instead of answering the next request."""
    def answer(seen, i):
        if seen.head.startswith(b"HEAD"):
            forged = b"HTTP/1.1 200 OK\r\nGeneration: 1\r\nContent-Length: 6\r\n\r\nFORGED"
            return response(headers=ITEM | {"Content-Length": "5"}, length=False) + forged
        return response(body=b"value", headers=ITEM)

    with RawServer(answer) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: api.describe_item("s", "k").generation), outcome(lambda: api.get_item("s", "k").value)]
        api.close()
    assert got == [("ok", 17), ("ok", b"value")]
    assert [s.connection for s in server.seen] == [0, 1]


def test_an_answer_with_both_transfer_encoding_and_content_length_ends_its_connection():
    """Chunked framing wins over Content-Length, as in h11; but such an answer is what request smuggling and response
    splitting look like (RFC 9112, 6.3), so the light session does not send another request on that connection
    (httpx does)."""
    body = STORES % b"first"
    both = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        len(body), body)
    replies = [both, response(body=STORES % b"second")]
    with RawServer(lambda s, i: replies[min(i, 1)]) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: [s.id for s in api.list_stores().items]) for _ in range(2)]
        api.close()
    assert got == [("ok", ["first"]), ("ok", ["second"])]
    assert [s.connection for s in server.seen] == [0, 1]


# --------------------------------------------------------------------------------------------- unbounded lines
def _flood_then_hold(head: bytes, unit: bytes, size: int = 300_000):
    """Send ``head``, then ``unit`` repeated to ``size`` bytes, and keep the connection open until the client goes."""
    def act(conn) -> bool:
        conn.sendall(head + unit * (size // len(unit)))
        while conn.recv(65536):
            pass
        return False

    return act


@pytest.mark.parametrize("unit", [b"0", b"x"], ids=["chunk-size-line", "chunk-extension"])
def test_a_chunk_header_without_end_stops_at_the_head_bound(unit):
    """A chunk-size line (or its extension) that never ends: refused once it passes httpcore's 100 KiB, as httpx
    refuses it ("Receive buffer too long"), not buffered until the attempt's time limit."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1" + (b";" if unit == b"x" else b"")
    (full, _, _), (light, _, _) = on_both(lambda s, i: _flood_then_hold(head, unit), [lambda a: a.list_stores()],
                                          max_attempts=1, deadline=30)  # fmt: skip
    assert light == full and "Receive buffer too long" in light[0][1], light


def test_endless_trailers_stop_at_the_head_bound():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    (full, _, _), (light, _, _) = on_both(lambda s, i: _flood_then_hold(head, b"X-Trailer: y\r\n"),
                                          [lambda a: a.list_stores()], max_attempts=1, deadline=30)  # fmt: skip
    assert light == full and "Receive buffer too long" in light[0][1], light


def _drip_forever(head: bytes, unit: bytes):
    """Send ``head``, then ``unit`` every few milliseconds, until the client goes away."""
    def act(conn) -> bool:
        import time

        conn.sendall(head)
        try:
            while True:
                conn.sendall(unit)
                time.sleep(0.01)
        except OSError:
            return False

    return act


@pytest.mark.parametrize("head,unit", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"y"),  # slowloris: a header line a byte at a time
    (b"", b"HTTP/1.1 100 Continue\r\n\r\n"),  # interim answers without end
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n"),
], ids=["slowloris-head", "endless-1xx", "endless-chunks"])  # fmt: skip
def test_a_server_that_never_finishes_its_answer_is_cut_off_at_the_deadline(head, unit):
    """Each read waits at most what is left of the attempt, so an answer that keeps trickling in (every read on time)
    ends at the attempt's deadline, with httpx's outcome."""
    import re

    (full, _, _), (light, _, _) = on_both(lambda s, i: _drip_forever(head, unit), [lambda a: a.list_stores()],
                                          deadline=0.5, max_attempts=1)  # fmt: skip

    def shown(o: tuple) -> tuple:  # how many bytes arrived in time depends on the machine's load
        return (o[0], re.sub(r"; \d+ bytes of the answer", "; N bytes of the answer", o[1]), *o[2:])

    assert [shown(o) for o in light] == [shown(o) for o in full], light
    assert "did not finish answering GET within 0.5 s" in light[0][1]


def test_an_unasked_101_switching_protocols_fails_as_with_httpx():
    """kvcli never asks to upgrade: h11 refuses a 101 as a protocol error (a GET is tried again), and so must the
    light session, rather than report it as the API's answer (another message, exit code and retry rule)."""
    reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    (full, seen_full, _), (light, seen_light, _) = on_both(lambda s, i: lambda conn: conn.sendall(reply) and False,
                                                           [lambda a: a.list_stores()], max_attempts=2)  # fmt: skip
    assert light == full and light[0][0] == "TransportError", light
    assert len(seen_light) == len(seen_full) == 2


def test_a_malformed_trailer_line_fails_as_with_httpx():
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\nno colon here\r\n\r\n"
    (full, _, _), (light, _, _) = on_both(lambda s, i: lambda conn: conn.sendall(reply) and False,
                                          [lambda a: a.list_stores()], max_attempts=1)  # fmt: skip
    assert light == full and "illegal header line" in light[0][1], light


# ------------------------------------------------------------------------------------------------- endpoints
@pytest.mark.parametrize("port", ["0", "65536", "99999", "x"])
def test_an_endpoint_port_out_of_range_is_refused_before_any_connection(monkeypatch, port):
    """``http://host:0`` or ``:99999`` names no port a connection can reach: both sessions refuse it as an invalid
    endpoint, without dialling anything (httpx dialled port 80 for 0 and 99999 & 0xffff for 99999, with the token,
    while its message named the port given)."""
    import socket

    from kvcli.api import errors as E

    dialled: list[tuple] = []
    real = socket.create_connection

    def recording(address, *args, **kw):
        dialled.append(address)
        return real(address, *args, **kw)

    monkeypatch.setattr(socket, "create_connection", recording)
    for kind in SESSIONS:
        with pytest.raises(E.ConfigError) as caught:
            adapter(kind, f"http://user:secret-pw@127.0.0.1:{port}", max_attempts=1).list_stores()
        assert caught.value.reason == "endpoint_invalid" and "port" in caught.value.message, caught.value.message
        assert "secret-pw" not in caught.value.message
    assert dialled == []


# ----------------------------------------------------------------------------------------------------- bodies
def test_gzip_inside_gzip_is_decoded_a_bounded_piece_at_a_time():
    """``Content-Encoding: gzip, gzip`` around 64 MiB of zeros is 400 bytes on the wire: each layer is undone a
    bounded piece at a time (both sessions), so the answer stops at max_response_bytes without ever holding more
    than a few pieces; httpx's own decoder would expand each layer of each read whole. The same answer when small is
    decoded, and the pieces are bounded however deep the layers go."""
    import gzip

    from kvcli.api.http.decode import decoded_chunks
    from kvcli.api.http.light import Headers

    bomb = gzip.compress(gzip.compress(b"\0" * (64 * 1024 * 1024)))
    small = b'{"data":[{"id":"a","name":"b"}],"meta":{}}'
    replies = [response(body=bomb, headers={"Content-Encoding": "gzip, gzip"}),
               response(body=gzip.compress(gzip.compress(small)), headers={"Content-Encoding": "gzip, identity, gzip"})]
    calls = [lambda a: a.list_stores(), lambda a: [s.id for s in a.list_stores().items]]
    (full, _, _), (light, _, _) = on_both(lambda s, i: replies[i], calls, max_response_bytes=4096, max_attempts=1)
    assert light == full and light[0][3] == "answer_too_large" and light[1] == ("ok", ["a"]), light

    class Answer:  # what decoded_chunks reads of a response and its session
        headers = Headers([(b"Content-Encoding", b"gzip, gzip, gzip")])

        @staticmethod
        def has_body(response) -> bool:
            return False

        @staticmethod
        def body_chunks(response):
            yield gzip.compress(bomb)

    pieces = decoded_chunks(Answer, Answer, piece=1024)  # type: ignore[arg-type]
    sizes = [len(next(pieces)) for _ in range(200)]
    assert max(sizes) <= 1024 and sum(sizes) > 100 * 1024


# ---------------------------------------------------------------------------------------------- token safety
def test_a_token_of_every_visible_character_is_sent_as_httpx_sends_it():
    import random

    from kvcli.api.http import HttpAdapter

    token = "".join(chr(c) for c in range(0x21, 0x7F))
    seen = {}
    for kind in SESSIONS:
        with RawServer(lambda s, i: response(body=STORES % b"x")) as server:
            api = HttpAdapter(server.url, token, light=kind == "light", rng=random.Random(7))
            assert outcome(lambda: [s.id for s in api.list_stores().items]) == ("ok", ["x"])
            api.close()
            seen[kind] = server.seen[0].raw.replace(str(server.port).encode(), b"PORT")
    assert seen["light"] == seen["httpx"] and b"\r\nFastly-Key: " + token.encode() + b"\r\n" in seen["light"]


def test_a_redirect_is_never_followed_and_its_location_gets_nothing():
    """A 3xx answer is the API's answer (an error), on both sessions: the Location is never asked, so it never
    receives the token."""
    with RawServer(lambda s, i: response(body=STORES % b"elsewhere")) as elsewhere:
        def answer(seen, i):
            return response(307, b"", {"Location": elsewhere.url + "/resources/stores/kv"}, "Temporary Redirect")

        (full, _, _), (light, _, _) = on_both(answer, [lambda a: a.list_stores()], max_attempts=3)
        assert light == full and light[0][0] == "ApiError" and "307" in light[0][1], light
        assert elsewhere.seen == [] and elsewhere.connections == 0


def _fast(args: list[str]) -> tuple[int | None, str]:
    """Run ``args`` through the click-free fast path (kvcli.entry.run_fast), in-process: (exit code, stderr)."""
    from click.testing import CliRunner

    from kvcli.entry import run_fast

    with CliRunner().isolation() as (_, err, _):
        code = run_fast(args)
        import sys

        sys.stderr.flush()
        return code, err.getvalue().decode()


@pytest.mark.parametrize("echo", [
    b"HTTP/1.1 2OO %s\r\n\r\n",  # in a status line h11 refuses and quotes (repr: a backslash is doubled)
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n",  # in a chunk header
    b"HTTP/1.1 500 oops %s\r\nContent-Length: 0\r\n\r\n",  # in a reason phrase
    b"JSON",  # in a JSON error body (its escapes undone before the message is made)
], ids=["status-line", "chunk-header", "reason", "json-body"])  # fmt: skip
def test_a_token_echoed_by_the_server_is_redacted_in_every_spelling(monkeypatch, echo):
    """A token may hold any visible ASCII character, among them a backslash and quotes, which Python's repr (in
    h11's protocol errors) and JSON escape: the escaped spellings are redacted too, on the fast path (light session)
    and the full CLI (httpx) alike, with the same message and exit code."""
    from tests.conftest import invoke

    token = "tok\\SECRET'x\"1"
    json_token = token.replace("\\", "\\\\").replace('"', '\\"').encode()
    reply = echo.replace(b"%s", token.encode())
    if echo == b"JSON":
        reply = response(400, b'{"msg":"%s"}' % json_token, {"Content-Type": "application/json"}, "Bad")
    with RawServer(lambda s, i: reply) as server:
        args = ["kv-store-entry", "get", "-s", "s", "-k", "k", "--token", token, "--endpoint", server.url]
        monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "1")
        full = invoke(args)
        fast = _fast(args)
    assert fast == (full.exit_code, full.stderr) and fast[0] not in (0, None), (fast, full.stderr)
    assert "SECRET" not in fast[1] and "[REDACTED]" in fast[1], fast[1]


# ------------------------------------------------------------------------------------------------------ TLS
@pytest.mark.parametrize("where", ["missing", "not-pem", "a-directory"])
def test_an_unusable_ssl_cert_file_is_named_with_its_fix(monkeypatch, tmp_path, where):
    """SSL_CERT_FILE naming a missing file, one without certificates or a directory: both sessions (the fast path
    and the full CLI) refuse it with the same one-line error naming the variable, not a bare "No such file or
    directory" that does not say which file."""
    from tests.conftest import invoke

    path = {"missing": tmp_path / "nope.pem", "not-pem": tmp_path / "bad.pem", "a-directory": tmp_path}[where]
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    args = ["kv-store-entry", "get", "-s", "s", "-k", "k", "--token", "tok-en", "--endpoint", "https://127.0.0.1:9"]
    full = invoke(args)
    fast = _fast(args)
    assert fast == (full.exit_code, full.stderr), (fast, full.stderr)
    assert fast[0] not in (0, None) and f"SSL_CERT_FILE={path}" in fast[1] and "(hint: " in fast[1], fast[1]
    assert fast[1].count("\n") == 1 and "Traceback" not in fast[1]


def test_an_sslkeylogfile_that_cannot_be_created_is_named_with_its_fix(monkeypatch, tmp_path):
    """ssl.create_default_context opens SSLKEYLOGFILE for both sessions: a file in a missing directory (which stops
    root too) is a one-line error naming the variable, on the fast path and the full CLI alike."""
    from tests.conftest import invoke

    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "no-such-dir" / "keys.log"))
    args = ["kv-store-entry", "get", "-s", "s", "-k", "k", "--token", "tok-en", "--endpoint", "https://127.0.0.1:9"]
    full = invoke(args)
    fast = _fast(args)
    assert fast == (full.exit_code, full.stderr), (fast, full.stderr)
    assert fast[0] not in (0, None) and "SSLKEYLOGFILE=" in fast[1] and "(hint: " in fast[1], fast[1]


def test_a_certificate_for_another_address_is_refused_as_with_httpx(monkeypatch, tmp_path):
    """The certificate names 127.0.0.1 and localhost; the server answers on 127.0.0.2: the hostname check refuses it,
    at once (no retry) and with the certificate hint, before the request (and its token) is sent."""
    certificate = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    got = {}
    for kind in SESSIONS:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*certificate)
        try:
            server = RawServer(lambda s, i: response(body=STORES % b"x"), tls=tls, host="127.0.0.2")
        except OSError as exc:  # pragma: no cover - a system without 127.0.0.0/8 on lo
            pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
        with server:
            api = adapter(kind, server.url, max_attempts=3)
            got[kind] = (*outcome(lambda: api.list_stores(), server.url), server.connections, len(server.seen))
    assert got["light"] == got["httpx"], got
    assert "is not trusted: [SSL: CERTIFICATE_VERIFY_FAILED]" in got["light"][1] and "mismatch" in got["light"][1]
    assert got["light"][-2:] == (1, 0)  # one connection, nothing sent


def test_an_ipv6_literal_endpoint_sends_what_httpx_sends():
    try:
        socket.socket(socket.AF_INET6).close()
        probe = RawServer(lambda s, i: response(body=STORES % b"v6"), host="::1")
    except OSError as exc:  # pragma: no cover - no IPv6 loopback
        pytest.skip(f"no IPv6 loopback: {exc}")
    probe.stop()
    results = {}
    for kind in SESSIONS:
        with RawServer(lambda s, i: response(body=STORES % b"v6"), host="::1") as server:
            api = adapter(kind, server.url)
            results[kind] = (outcome(lambda: [s.id for s in api.list_stores().items]),
                             server.seen[0].raw.replace(str(server.port).encode(), b"PORT"))  # fmt: skip
            api.close()
    assert results["light"] == results["httpx"] and results["light"][0] == ("ok", ["v6"])
    assert b"\r\nHost: [::1]:PORT\r\n" in results["light"][1]


def test_a_tls_handshake_that_never_completes_is_bounded_by_the_connect_timeout():
    """The server accepts the connection and never answers the ClientHello: the handshake ends at the connect
    timeout, as a ConnectTimeout with httpx's message (nothing was sent, so it may be retried)."""
    import threading

    held: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in range(4)], daemon=True).start()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
        got = {kind: outcome(lambda kind=kind: adapter(kind, url, max_attempts=1, connect_timeout=0.3).list_stores(),
                             url) for kind in SESSIONS}  # fmt: skip
    for conn in held:
        conn.close()
    assert got["light"] == got["httpx"], got
    assert got["light"][1] == "connecting to URL timed out after 0.3 s", got


def test_a_204_with_a_body_is_not_the_next_answer():
    """A 204 has no body: a forged answer sent after it closes the connection (as after HEAD)."""
    forged = response(body=STORES % b"FORGED")
    replies = [response(204, b"", reason="No Content", length=False) + forged, response(body=STORES % b"real")]
    with RawServer(lambda s, i: replies[min(i, 1)]) as server:
        api = adapter("light", server.url)
        got = [outcome(lambda: api.delete_item("s", "k")), outcome(lambda: [s.id for s in api.list_stores().items])]
        api.close()
    assert got == [("ok", None), ("ok", ["real"])], got
    assert [s.connection for s in server.seen] == [0, 1]


def test_a_plain_http_endpoint_on_a_tls_server_fails_as_with_httpx(tmp_path):
    """http:// to a server that speaks TLS: the request goes out in clear, the server resets; the same words."""
    certificate = _certificate(tmp_path)
    got = {}
    for kind in SESSIONS:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*certificate)
        with RawServer(lambda s, i: response(), tls=tls) as server:
            api = adapter(kind, server.url.replace("https://", "http://"), max_attempts=2)
            got[kind] = (*outcome(lambda: api.list_stores(), server.url.replace("https://", "http://")),
                         server.connections)  # fmt: skip
    assert got["light"] == got["httpx"] and got["light"][0] == "TransportError", got


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
def test_no_proxy_alone_keeps_the_light_session(monkeypatch, name):
    """NO_PROXY only narrows a proxy: alone it routes nothing through one, for httpx either, so the light session
    serves the request (and sends what httpx sends)."""
    monkeypatch.setenv(name, "*")
    seen = {}
    for kind in SESSIONS:
        with RawServer(lambda s, i: response(body=STORES % b"x")) as server:
            api = adapter(kind, server.url)  # asserts which session it got
            assert outcome(lambda: [s.id for s in api.list_stores().items]) == ("ok", ["x"])
            api.close()
            seen[kind] = server.seen[0].raw.replace(str(server.port).encode(), b"PORT")
    assert seen["light"] == seen["httpx"]


def _certificate(where: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and localhost (benchmarks/latency_proxy.py makes it), or a skip."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    loaded = importlib.util.spec_from_file_location("latency_proxy", root / "benchmarks" / "latency_proxy.py")
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    try:
        module.make_certificate(where / "cert.pem", where / "key.pem")
    except (OSError, RuntimeError) as exc:  # neither cryptography nor openssl
        pytest.skip(f"no way to make a throw-away certificate: {exc}")
    return where / "cert.pem", where / "key.pem"


# ---------------------------------------------------------------------------------------------------- uploads
def test_an_answer_sent_before_the_upload_ended_is_read_as_httpx_reads_it():
    """A server may answer (413, 401) as soon as it has the head and close without reading the body: the write then
    fails, and httpcore reads the answer anyway. So must the light session: the user sees the server's 413 and its
    exit code, not "Broken pipe"; and that connection is never used again."""
    import threading

    def early(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(response(413, b'{"msg":"too big"}', {"Content-Type": "application/json"}, "Payload Too Large"))
        conn.shutdown(socket.SHUT_WR)
        conn.close()  # the body still arriving is refused (a reset): the client's write fails

    got = {}
    for kind in SESSIONS:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            threading.Thread(target=early, args=(listener,), daemon=True).start()
            api = adapter(kind, f"http://127.0.0.1:{listener.getsockname()[1]}", max_attempts=1)
            got[kind] = outcome(lambda: api.put_item("s", "k", b"x" * (16 * 1024 * 1024)))
            assert not getattr(api._session, "_idle", []), "a half-sent connection was kept"
            api.close()
    assert got["light"] == got["httpx"] and got["light"][0] == "TooLarge", got
