"""The light session: single requests over plain sockets, without importing httpx (see :mod:`kvcli.api.http.session`).

A command that sends one or a few requests in a row (the click-free fast path, :mod:`kvcli.cli.fast`) would spend
more time importing httpx, httpcore and h11 (~40 ms) and building an ``httpx.Client`` than on its request. This session
sends the same bytes httpx would (the same headers, in the same order and spelling, the same target and query
encoding), reads the answer as httpcore and h11 do (:mod:`kvcli.api.http.light_wire`), keeps one idle keep-alive
connection per thread of use (expired after httpx's 5 s, or dropped when the server closed it while idle, as
httpcore's pool does), and reports failures with httpx's kinds and words. TLS follows httpx 0.28's trust rules:
``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi's bundle; ALPN ``http/1.1``; SNI and the hostname check of
``ssl.create_default_context`` (which also honours ``SSLKEYLOGFILE``).

:func:`light_session` gives one only where it reproduces httpx exactly, else None (the caller then uses httpx).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from kvcli.api.http.light_wire import Connection, framing, keeps_alive
from kvcli.api.http.session import SendFailure, Timeout

KEEPALIVE_EXPIRY = 5.0  # httpx.Limits' default keepalive_expiry
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/")
# h11's field-value rule (no NUL, CR, LF or other whitespace but inner spaces and tabs)
_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


def _proxied(environ: Mapping[str, str]) -> bool:
    """Whether httpx would look for a proxy: urllib's getproxies() reads every ``*_proxy`` variable, any case, that is
    not empty; httpx uses its http, https and all entries (NO_PROXY only narrows them: any set means httpx)."""
    return any(value and name.lower() in PROXY_VARIABLES for name, value in environ.items())


def _findable(name: str) -> bool:
    """importlib.util.find_spec(name) is not None, for a top-level name, without importing importlib.util (~3 ms)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    return any(getattr(finder, "find_spec", None) and finder.find_spec(name, None) for finder in sys.meta_path)


def light_session(endpoint: str, timeout: Timeout, user_agent: str) -> LightSession | None:
    """A light session for ``endpoint``, or None where it could not send and read exactly what httpx would."""
    if _proxied(os.environ) or sys.platform in ("darwin", "win32"):  # there urllib also reads the system's proxies
        return None
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if (scheme not in ("http", "https") or not host or not host.isascii() or parts.username is not None
            or parts.password is not None or parts.query or parts.fragment or not set(parts.path) <= _PATH_SAFE
            or any(seg in (".", "..") for seg in parts.path.split("/"))):  # fmt: skip
        return None  # IDNA, Basic auth from the URL, httpx's path normalisation: httpx's business
    if any(_findable(name) for name in ("brotli", "brotlicffi", "zstandard")):
        return None  # httpx would also accept br or zstd, which only it decodes
    try:
        port = parts.port
    except ValueError:
        return None
    return LightSession(scheme, host.lower(), port, parts.path, timeout, user_agent)


class Headers:
    """httpx.Headers' reading side: case-insensitive ``get`` (repeated fields joined by ", "), ``raw``, ``encoding``."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        for encoding in ("ascii", "utf-8"):  # as httpx.Headers.encoding decides
            try:
                for _, value in raw:
                    value.decode(encoding)
            except UnicodeDecodeError:
                continue
            self.encoding = encoding
            break
        else:
            self.encoding = "iso-8859-1"

    def get_list(self, key: str) -> list[str]:
        lower = key.lower().encode("latin-1")
        return [value.decode(self.encoding) for name, value in self.raw if name.lower() == lower]

    def get(self, key: str, default: Any = None) -> Any:
        values = self.get_list(key)
        return ", ".join(values) if values else default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.get_list(key))

    def items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1").lower(), value.decode(self.encoding)) for name, value in self.raw]


class Request:
    def __init__(self, method: str, url: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.method = method
        self.url = url
        self.target = target
        self.headers = Headers(headers)
        self.content = self._content = body


class Response:
    def __init__(self, request: Request, status: int, reason: bytes, headers: list[tuple[bytes, bytes]],
                 chunks: Iterator[bytes], conn: Connection, done: Any) -> None:  # fmt: skip
        self.request = request
        self.status_code = status
        self.reason_phrase = reason.decode("ascii", errors="ignore")
        self.headers = Headers(headers)
        self._chunks = chunks
        self._conn: Connection | None = conn
        self._done = done  # called with the connection once the body was read to its end
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_raw())
        return self._content

    @property
    def links(self) -> dict[str | None, dict[str, str]]:
        from kvcli.api.http.light_decode import header_links

        return header_links(self.headers.get("link"))

    def iter_raw(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        except BaseException:
            self.close()
            raise
        conn, self._conn = self._conn, None
        if conn is not None:
            self._done(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:  # closed before its end (e.g. describe's GET): the connection cannot carry more
            conn.close()


class LightSession:
    """Requests over plain sockets, HTTP/1.1; idle keep-alive connections reused one request at a time."""

    def __init__(self, scheme: str, host: str, port: int | None, path: str, timeout: Timeout, user_agent: str) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port or (443 if scheme == "https" else 80)
        shown_port = "" if port in (None, 443 if scheme == "https" else 80) else f":{port}"
        netloc = (f"[{host}]" if ":" in host else host) + shown_port
        self.origin = f"{scheme}://{netloc}"
        self.netloc = netloc.encode("ascii")
        self.timeout = timeout
        self.user_agent = user_agent.encode("ascii")
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self.tls = _tls_context() if scheme == "https" else None  # as httpx builds its own at once

    # ---------------------------------------------------------------------------------------------- requests
    def build(self, method: str, url: str, *, params: Mapping[str, str] | None, json: Any,
              form: Mapping[str, str] | None, content: bytes | None, headers: Mapping[str, Any]) -> Request:
        """The request httpx.Client.build_request would make, with its headers in httpx's order and spelling."""
        parts = urlsplit(url)
        if (parts.scheme.lower(), parts.hostname, parts.port or self.port) != (self.scheme, self.host, self.port):
            raise SendFailure("UnsupportedProtocol", f"the light session serves {self.origin} only")
        path = parts.path or "/"  # as given: FastlyHttp.url percent-encodes each segment, httpx keeps that
        query = urlencode(list(params.items())) if params else ""
        shown = self.origin + path + (f"?{query}" if query else "")
        fields: list[tuple[bytes, bytes]] = [(b"Accept", b"*/*"), (b"Accept-Encoding", b"gzip, deflate"),
                                             (b"Connection", b"keep-alive"), (b"User-Agent", self.user_agent)]
        for key, given in headers.items():
            _set(fields, key.encode("ascii"), given if isinstance(given, bytes) else given.encode("ascii"))
        body = b""
        extra: list[tuple[bytes, bytes]] = []
        if content is not None:
            body = bytes(content)
            extra = [(b"Content-Length", str(len(body)).encode())] if body else []
        elif json is not None:
            import json as jsonlib

            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
            extra = [(b"Content-Length", str(len(body)).encode()), (b"Content-Type", b"application/json")]
        elif form:
            body = urlencode(list(form.items()), doseq=True).encode("ascii")
            extra = [(b"Content-Length", str(len(body)).encode()),
                     (b"Content-Type", b"application/x-www-form-urlencoded")]
        for name, value in extra:  # Request._prepare: setdefault
            if not any(n.lower() == name.lower() for n, _ in fields):
                fields.append((name, value))
        auto = [(b"Host", self.netloc)]
        if method in ("POST", "PUT", "PATCH") and not any(n.lower() in (b"content-length", b"transfer-encoding")
                                                           for n, _ in fields):  # fmt: skip
            auto.append((b"Content-Length", b"0"))
        return Request(method, shown, (path + (f"?{query}" if query else "")).encode("ascii"), auto + fields, body)

    def send(self, request: Request) -> Response:
        for _, value in request.headers.raw:  # h11's check, before anything is sent
            if not _VALUE.fullmatch(value):
                raise SendFailure("LocalProtocolError", f"Illegal header value {value!r}")
        conn = self._connection()
        try:
            head = b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.target)
            host = [f for f in request.headers.raw if f[0].lower() == b"host"]
            rest = [f for f in request.headers.raw if f[0].lower() != b"host"]
            head += b"".join(b"%s: %s\r\n" % field for field in host + rest) + b"\r\n"
            conn.write(head, self.timeout.write)
            sent = True
            try:
                conn.write(request.content, self.timeout.write)
            except SendFailure as exc:  # as httpcore: the server may have answered early (a 413) and closed
                if exc.kind != "WriteError":
                    raise
                sent = False
            version, status, reason, headers = conn.read_head(self.timeout.read)
        except BaseException:
            conn.close()
            raise
        framed, length = framing(request.method, status, headers)
        reuse = sent and keeps_alive(version, headers, framed) and keeps_alive("1.1", request.headers.raw, "length")
        return Response(request, status, reason, headers, conn.body(framed, length, self.timeout.read), conn,
                        self._release if reuse else Connection.close)  # fmt: skip

    def _connection(self) -> Connection:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if now - conn.idle_since <= KEEPALIVE_EXPIRY and not conn.readable():
                    return conn
                conn.close()  # expired, or the server closed it while it was idle: httpcore opens a new one
        return Connection.open(self.host, self.port, self.timeout.connect, self.tls, self.host)

    def _release(self, conn: Connection) -> None:
        if conn.buffer:  # bytes past the answer's end (a forged answer, a body sent to HEAD): never the next answer
            conn.close()
            return
        conn.idle_since = time.monotonic()
        with self._lock:
            self._idle.append(conn)

    def body_chunks(self, response: Response) -> Iterator[bytes]:
        return response.iter_raw()

    def decoded_fallback(self, response: Response) -> Iterator[bytes]:
        from kvcli.api.http.light_decode import decoded

        return decoded(response.headers.get_list("content-encoding"), response.iter_raw())

    @staticmethod
    def has_body(response: Response) -> bool:
        return response._content is not None

    @staticmethod
    def set_content(response: Response, content: bytes) -> None:
        response._content = content

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _set(fields: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """httpx.Headers.update, as the client merges a request's headers into its own: fields of that name go, the new
    one is appended."""
    lower = name.lower()
    fields[:] = [(n, v) for n, v in fields if n.lower() != lower]
    fields.append((name, value))


def _tls_context() -> Any:
    """httpx 0.28's create_ssl_context(verify=True, trust_env=True), with httpcore's ALPN."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        ctx = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
