"""``kvcli local serve``: the embedded engine served as Fastly's KV store HTTP API.

A thin translation layer: HTTP requests become engine calls, engine results and typed errors become Fastly's
statuses, headers and bodies (see the wire constants in :mod:`kvcli.api.wire`). Routing is done on the *raw* request
path (ASGI ``scope["raw_path"]``) by a small router of its own, so a key such as ``a/b`` sent as ``a%2Fb`` stays one
path segment.

Extension point: the router is a list of ``(method, pattern, handler)`` routes. Another module can add routes (for
example the ``/service/...`` endpoints of resource links) by defining ``register(router: Router) -> None``; modules
named in :data:`ROUTE_MODULES` are imported and registered by :func:`create_app` when they exist. Handlers are plain
(synchronous) functions taking a :class:`Call` and returning a Starlette ``Response``. Most run in a worker thread,
because engine calls block on SQLite: writes wait for the write lock (and for other processes' writers), and a
streamed batch reads its body for as long as the client sends it. Routes added with ``inline=True`` (the short
reads: an item, its description, a bounded list page, a store) run on the event loop instead: in WAL mode a read
never waits for a writer, and handing a sub-millisecond query to a thread cost more than the query (a fifth of the
server's time). ``inline`` may also be a function of the :class:`Call` that says whether this call is short.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import importlib
import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kvcli.api import validation, wire
from kvcli.api.errors import ApiError, InvalidInput, NotFound, TooLarge
from kvcli.api.models import BatchEntry, BatchError, PutMode, Store
from kvcli.local.engine import Engine

#: modules that may extend the router (each defines ``register(router)``); missing ones are skipped
ROUTE_MODULES: tuple[str, ...] = ("kvcli.local.server_services",)

#: the legacy error body's ``msg`` for each status (``detail`` carries the specific message)
STATUS_MSG: dict[int, str] = {
    400: "Bad request",
    401: wire.AUTH_FAILED_MSG,
    403: "Forbidden",
    404: "Record not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable entity",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    507: "Insufficient storage",  # disk full, read-only database or I/O error (a StorageError): not worth a retry
}

Handler = Callable[["Call"], Response]


# ------------------------------------------------------------------------------------------------ responses
NESTED_TOO_DEEPLY = "nested too deeply"
#: the body limit of routes that take a small JSON or form body (store names, services, links); GET/HEAD take none
SMALL_BODY_LIMIT = 1024 * 1024
#: a request's headers (names and values) over this are answered 431, whichever HTTP parser read them (h11 refuses
#: longer headers that arrive in pieces itself; kvcli.local.serve counts them for httptools)
MAX_HEADER_BYTES = 64 * 1024


def json_problem(exc: ValueError) -> str:
    """A JSON parse failure in one phrase (``json`` raises a bare ValueError for an integer over 4,300 digits)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if "digits" in str(exc):
        return "a number has too many digits"
    return str(exc)


def unicode_only(obj: Any) -> bool:
    """True when every string (and object key) in decoded JSON ``obj`` is Unicode text, i.e. has no lone surrogate.
    Iterative: ``obj`` may be nested as deeply as the parser allows."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=wire.CT_JSON, headers=headers)


def legacy_error(status: int, detail: str = "", msg: str | None = None) -> Response:
    """Fastly's legacy (Rails) error body ``{"msg": ..., "detail": ...}``; 412s are always empty."""
    if status == 412:
        return Response(b"", status_code=412)
    body: dict[str, str] = {"msg": msg or STATUS_MSG.get(status, "Error")}
    if detail:
        body["detail"] = detail
    return json_response(body, status)


def error_response(exc: ApiError) -> Response:
    return legacy_error(exc.status or 500, exc.message)


def header_value(text: str) -> str:
    """A str header value whose UTF-8 bytes go on the wire unchanged (Starlette encodes header values as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def store_json(store: Store) -> dict[str, str | None]:
    return {
        "id": store.id,
        "name": store.name,
        "created_at": wire.store_timestamp(store.created_at),
        "updated_at": wire.store_timestamp(store.updated_at),
    }


# ------------------------------------------------------------------------------------------- Host and Origin
def split_host(host: str) -> tuple[str, str | None]:
    """(name, port) of a Host header or an Origin's authority: lower case, IPv6 brackets and a trailing dot dropped."""
    host = host.strip().lower()
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host[1:end], host[end + 1 :]) if end > 0 else (host, "")
        if rest.startswith(":"):
            port = rest[1:]
    elif host.count(":") == 1:
        name, port = host.split(":")
    else:
        name = host
    if ":" in name:  # an IPv6 address: one spelling (fe80::0001 is fe80::1)
        import ipaddress

        try:
            name = str(ipaddress.ip_address(name))
        except ValueError:
            pass
    return name.rstrip("."), port


@dataclass(frozen=True)
class HostPolicy:
    """Which requests a server answers, whatever their key. ``check_host``: the Host must be a loopback name or one
    of ``allowed`` (set when the server is bound to a loopback address, so a rebound name is refused). Always: a
    request from a browser page of another origin is refused (``Origin`` other than the server's own address as the
    request names it, or ``Sec-Fetch-Site`` other than ``same-origin``/``none``), since this API serves no pages and a
    page's ``text/plain`` POST needs no CORS preflight."""

    check_host: bool = False
    allowed: frozenset[str] = frozenset()

    def problem(self, headers: Any, scope: dict) -> str | None:
        host = headers.get("host")
        if self.check_host and host is not None:
            name, _ = split_host(host)
            if not (wire.is_loopback_host(name) or name in self.allowed):
                shown = host if len(host) <= 100 else host[:100] + "…"
                return (
                    f"Host {shown!r} is not a loopback name: this server is bound to a loopback address and answers "
                    "only localhost, 127.0.0.1 and ::1, so that a web page cannot reach it by DNS rebinding "
                    f"(hint: start it with --allow-host {name or 'NAME'} to accept that name)"
                )
        origin = headers.get("origin")
        if origin is not None:
            if not self.own_origin(origin, host, scope):
                shown = origin if len(origin) <= 100 else origin[:100] + "…"
                return (
                    f"cross-origin request (Origin {shown!r}) refused: this API is not for web pages of other origins"
                )
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            return f"cross-site request (Sec-Fetch-Site: {site[:40]}) refused: this API is not for web pages"
        return None


    def own_origin(self, origin: str, host: str | None, scope: dict) -> bool:
        """The server's own origin: ``http://`` + the request's Host, or (on a loopback bind) a loopback or allowed
        name with the server's port."""
        o = origin.strip().lower()
        if host is not None and o == f"http://{host.strip().lower()}":
            return True
        if not self.check_host or not o.startswith("http://"):
            return False
        name, port = split_host(o[len("http://") :])
        server_port = (scope.get("server") or (None, None))[1]
        return (wire.is_loopback_host(name) or name in self.allowed) and port is not None and port == str(server_port)


# --------------------------------------------------------------------------------------------------- routing
@dataclass
class Call:
    """One request as a handler sees it: decoded path parameters, the query, headers and the whole body."""

    request: Request
    params: dict[str, str]
    body: bytes
    engine: Engine
    query: dict[str, list[str]] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()  # a streamed route's body, as it arrives (blocking; handlers run in a thread)
    base_url: str = "http://127.0.0.1"  # the server's own address (never the request's Host)

    @property
    def method(self) -> str:
        return self.request.method

    def q(self, name: str) -> str | None:
        """The last value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        """A boolean query parameter: ``true/True/1`` (any case) is true, ``false/0``/empty is false."""
        raw = self.q(name)
        if raw is None:
            return False
        if raw in wire.TRUE_VALUES or raw.lower() == "true":
            return True
        if raw in wire.FALSE_VALUES or raw.lower() == "false":
            return False
        raise InvalidInput(f"invalid boolean {raw!r} for query parameter {name!r}", "use true or false")

    def int_param(self, name: str, minimum: int = 1) -> int | None:
        raw = self.q(name)
        if raw is None or raw == "":
            return None
        try:
            n = int(raw)
        except ValueError:
            raise InvalidInput(f"invalid {name} {raw!r}: not a whole number") from None
        if n < minimum:
            raise InvalidInput(f"invalid {name} {n}: must be at least {minimum}")
        return n

    def header(self, name: str) -> str | None:
        """A request header, case-insensitive, also found under its ``-``/``_`` twin (``time_to_live_sec``)."""
        headers = self.request.headers
        for candidate in (name, name.replace("_", "-"), name.replace("-", "_")):
            if candidate in headers:
                raw = headers[candidate]
                try:
                    return raw.encode("latin-1").decode("utf-8")
                except (UnicodeEncodeError, UnicodeDecodeError):
                    return raw
        return None

    def uint_header(self, name: str) -> int | None:
        raw = self.header(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            n = int(raw.strip())
        except ValueError:
            raise InvalidInput(f"invalid {name} header {raw!r}: not a whole number") from None
        if n < 0 or n >= 2**64:
            raise InvalidInput(f"invalid {name} header {raw!r}: must be an unsigned 64-bit integer")
        return n

    def json_body(self) -> Any:
        """The body as JSON (None when blank). Text that no engine rule could store is refused here: lone surrogates
        (``"\\ud800"`` decodes to a str that is not Unicode text), nesting deeper than Python's parser goes, and
        integers longer than Python converts."""
        if not self.body.strip():
            return None
        try:
            obj = json.loads(self.body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"request body is not valid UTF-8: {exc}") from None
        except ValueError as exc:  # JSONDecodeError, and the int digit limit
            raise InvalidInput(f"request body is not valid JSON: {json_problem(exc)}") from None
        except RecursionError:
            raise InvalidInput(f"request body is not valid JSON: {NESTED_TOO_DEEPLY}") from None
        if not unicode_only(obj):
            raise InvalidInput("request body is not valid JSON: a string holds a lone surrogate (\\ud800-\\udfff)",
                               "send Unicode text; a surrogate pair escapes one character beyond U+FFFF")
        return obj


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]  # literal segments, or "{name}" for a parameter matching one raw segment
    handler: Handler
    public: bool = False  # answered without the Fastly-Key check (e.g. the OIDC document)
    # bodies over this answer 413 (a callable returning None: unlimited); unset: no body on GET/HEAD, else
    # SMALL_BODY_LIMIT
    body_limit: Callable[[Engine], int | None] | None = None
    streamed: bool = False  # the handler reads the body itself from ``call.chunks`` (no limit on the whole body)
    #: run the handler on the event loop (a short read) rather than in a worker thread; or a function of the call
    inline: bool | Callable[[Call], bool] = False

    def runs_inline(self, call: Call) -> bool:
        return self.inline is True or (callable(self.inline) and self.inline(call))

    def limit(self, engine: Engine) -> int | None:
        if self.body_limit is not None:
            return self.body_limit(engine)
        return 0 if self.method in ("GET", "HEAD") else SMALL_BODY_LIMIT

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, raw in zip(self.segments, segments, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                params[pattern[1:-1]] = raw
            elif unquote(raw) != pattern:
                return None
        return params


def split_pattern(pattern: str) -> tuple[str, ...]:
    return tuple(s for s in pattern.strip("/").split("/") if s)


class Router:
    """An ordered list of routes matched on raw path segments; the first match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        public: bool = False,
        body_limit: Callable[[Engine], int | None] | None = None,
        streamed: bool = False,
        inline: bool | Callable[[Call], bool] = False,
    ) -> None:
        self.routes.append(
            Route(method.upper(), split_pattern(pattern), handler, public, body_limit, streamed, inline)
        )

    def route(self, method: str, pattern: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.add(method, pattern, fn, **kwargs)
            return fn

        return decorate

    def match(self, method: str, segments: list[str]) -> tuple[Route | None, dict[str, str], set[str]]:
        """(route, raw params, allowed methods for this path). HEAD falls back to the GET route."""
        allowed: set[str] = set()
        fallback: tuple[Route, dict[str, str]] | None = None
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            allowed.add(route.method)
            if route.method == method:
                return route, params, allowed
            if method == "HEAD" and route.method == "GET" and fallback is None:
                fallback = (route, params)
        if fallback:
            return fallback[0], fallback[1], allowed
        return None, {}, allowed


def raw_segments(scope: dict) -> list[str]:
    raw = scope.get("raw_path")
    if raw is None:  # a server without raw_path: re-encode (then %2F inside keys cannot be told apart)
        path = quote(scope.get("path", "/"), safe="/")
    else:
        path = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    parts = path.split("/")[1:]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing slash is ignored (keys never end in a raw '/': clients send %2F)
    return parts if parts != [""] else []


def decode_segment(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(f"path segment {raw!r} is not valid percent-encoded UTF-8") from None


# ----------------------------------------------------------------------------------------------- the app
class FastlyApi:
    """The ASGI endpoint behind every path: auth, routing on the raw path, body reading, error mapping."""

    def __init__(
        self,
        engine: Engine,
        router: Router,
        token: str | None = None,
        base_url: str | None = None,
        hosts: HostPolicy | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.read_timeout = read_timeout
        self.engine = engine
        self.router = router
        self.token = token
        self.base_url = base_url.rstrip("/") if base_url else None
        self.hosts = hosts or HostPolicy()

    def own_url(self, scope: dict) -> str:
        """The URL this server is reached at: the one it was started with, else the socket's local address."""
        if self.base_url:
            return self.base_url
        host, port = (scope.get("server") or ("127.0.0.1", None))[:2]
        host = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{host}" + (f":{port}" if port else "")

    def authorised(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get(wire.H_KEY)
        return given is not None and hmac.compare_digest(given.encode("latin-1"), self.token.encode("utf-8"))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # pragma: no cover - websockets are not part of the API
            return
        request = Request(scope, receive)
        body = Body(receive, self.read_timeout)
        try:
            response = await self.respond(request, scope, body)
        except ClientGone:
            return  # nobody to answer
        except BodyStalled as exc:
            response = legacy_error(408, str(exc))
            response.headers["connection"] = "close"  # the rest of the body cannot be told from the next request
        if request.method == "HEAD" and response.body:
            response = Response(
                b"",
                status_code=response.status_code,
                headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                | {"content-length": str(len(response.body))},
            )
        await response(scope, receive, send)

    async def respond(self, request: Request, scope: dict, body_in: Body) -> Response:
        """The answer; the request body is always read to its end first (kept only within the route's limit), so
        that a client still sending gets the answer rather than a reset connection."""
        try:
            return await self.answer(request, scope, body_in)
        finally:
            await body_in.drain()

    async def answer(self, request: Request, scope: dict, body_in: Body) -> Response:
        head = sum(len(name) + len(value) for name, value in scope["headers"])
        if head > MAX_HEADER_BYTES:
            resp = legacy_error(431, f"request headers are {head} bytes; the limit is {MAX_HEADER_BYTES} bytes")
            resp.headers["connection"] = "close"
            return resp
        refused = self.hosts.problem(request.headers, scope)
        if refused:
            return legacy_error(403, refused)
        segments = raw_segments(scope)
        route, raw_params, allowed = self.router.match(request.method, segments)
        if route is None or not route.public:
            if not self.authorised(request):
                return legacy_error(401)
        if route is None:
            if allowed:
                resp = legacy_error(405, f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}")
                resp.headers["Allow"] = ", ".join(sorted(allowed))
                return resp
            return legacy_error(404, f"no such endpoint: {request.method} {request.url.path}")
        try:
            params = {name: decode_segment(raw) for name, raw in raw_params.items()}
            body = b"" if route.streamed else await self.read_body(request, route, body_in)
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            call = Call(
                request=request,
                params=params,
                body=body,
                engine=self.engine,
                query=query,
                base_url=self.own_url(scope),
                chunks=body_in.blocking() if route.streamed else (),
            )
            if route.runs_inline(call):
                return route.handler(call)
            return await run_in_threadpool(route.handler, call)
        except ApiError as exc:
            return error_response(exc)
        except (ClientGone, BodyStalled):
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected failure must still answer, and be logged
            traceback.print_exc(file=sys.stderr)
            return legacy_error(500, f"{type(exc).__name__}: {exc}")

    async def read_body(self, request: Request, route: Route, body_in: Body) -> bytes:
        """The whole body; over the route's limit the rest is drained (not kept) and 413 is raised."""
        limit = route.limit(self.engine)
        chunks: list[bytes] = []
        size = 0
        while (chunk := await body_in.next()) is not None:
            size += len(chunk)
            if limit is not None and size > limit:
                chunks.clear()
                continue
            chunks.append(chunk)
        if limit is None or size <= limit:
            return b"".join(chunks)
        if route.body_limit is not None:  # a value (PUT of an item): the value size rule says it
            validation.check_value_size(size, limit)
        if limit == 0:
            raise TooLarge(
                f"a {request.method} request takes no body (this one has {size} bytes)", "send it without a body"
            )
        raise TooLarge(
            f"request body is {size} bytes; the limit for {request.method} on this endpoint is {limit} bytes",
            "send a smaller body",
        )


class ClientGone(Exception):
    """The client disconnected before its request body ended."""


class BodyStalled(Exception):
    """No part of the request body arrived for the read timeout."""


class Body:
    """A request body read from the ASGI ``receive`` callable: chunk by chunk, as it arrives. With ``timeout``, a
    wait of more than that many seconds for the next chunk raises :class:`BodyStalled` (and ends the body)."""

    def __init__(self, receive: Callable[[], Any], timeout: float | None = None) -> None:
        self.receive = receive
        self.timeout = timeout
        self.finished = False

    async def next(self) -> bytes | None:
        """The next non-empty chunk, or None at the end of the body."""
        import asyncio

        while not self.finished:
            try:
                message = await asyncio.wait_for(self.receive(), self.timeout)
            except TimeoutError:
                self.finished = True
                raise BodyStalled(
                    f"no part of the request body arrived for {self.timeout:g} s; the request was dropped"
                ) from None
            if message["type"] == "http.disconnect":
                self.finished = True
                raise ClientGone()
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                self.finished = True
            if chunk:
                return chunk
        return None

    async def drain(self) -> None:
        try:
            while await self.next() is not None:
                pass
        except ClientGone:
            pass

    def blocking(self) -> Iterator[bytes]:
        """The chunks for code in a worker thread (each one fetched on the event loop, so memory holds one)."""
        from anyio.from_thread import run

        while (chunk := run(self.next)) is not None:
            yield chunk


def create_app(
    engine_or_data_dir: Engine | str | Path,
    token: str | None = None,
    *,
    base_url: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    read_timeout: float | None = None,
) -> Starlette:
    """The Starlette app serving ``engine_or_data_dir`` (an Engine, or a data directory to open) as Fastly's API.

    With ``token``, requests whose ``Fastly-Key`` differs get 401; without, any key (or none) is accepted.
    ``base_url`` is the server's own URL, named in the discovery document (default: the socket's local address).
    With ``allowed_hosts`` (an iterable, possibly empty), only requests whose Host is a loopback name or one of these
    names are answered (others get 403): pass it when serving on a loopback address. Requests carrying a foreign
    ``Origin`` or ``Sec-Fetch-Site`` are refused in any case (see :class:`HostPolicy`). With ``read_timeout``, a
    request body that sends nothing for that many seconds is answered 408 and its connection closed.
    The app exposes ``app.state.router`` (add routes to it) and ``app.state.engine``.
    """
    if isinstance(engine_or_data_dir, Engine):
        engine, owned = engine_or_data_dir, False
    else:
        engine, owned = Engine.in_dir(engine_or_data_dir), True
    router = build_router()
    hosts = HostPolicy(
        check_host=allowed_hosts is not None,
        allowed=frozenset(split_host(h)[0] for h in allowed_hosts or ()),
    )
    api = FastlyApi(engine, router, token, base_url=base_url, hosts=hosts, read_timeout=read_timeout)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if owned:
            engine.close()

    app = Starlette(lifespan=lifespan)
    # every request goes to the API endpoint (not through a Mount: its path regex would not match a decoded
    # newline, and routing must look at the raw path anyway)
    app.router.default = api
    app.state.engine = engine
    app.state.router = router
    app.state.api = api
    return app


def build_router(extra_modules: Iterable[str] = ROUTE_MODULES) -> Router:
    router = Router()
    register(router)
    for name in extra_modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(router)
    return router


# ------------------------------------------------------------------------------------------------ handlers
STORES = wire.STORES_PATH
STORE = STORES + "/{store_id}"
KEYS = STORE + "/" + wire.KEYS_SEGMENT
ITEM = KEYS + "/{key}"
BATCH = STORE + "/" + wire.BATCH_SEGMENT


def _value_limit(engine: Engine) -> int:
    return engine.max_value_bytes if engine.max_value_bytes is not None else validation.max_value_bytes()


def oidc_configuration(call: Call) -> Response:
    """Enough of an OpenID Connect discovery document for the official CLI's start-up check. Its URLs name the
    server's own address: echoing the request's Host would hand a rebinding page URLs of its choosing."""
    base = call.base_url + "/realms/fastly"
    oidc = base + "/protocol/openid-connect"
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": oidc + "/auth",
            "token_endpoint": oidc + "/token",
            "userinfo_endpoint": oidc + "/userinfo",
            "end_session_endpoint": oidc + "/logout",
            "jwks_uri": oidc + "/certs",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


def _name_from_body(call: Call) -> str:
    body = call.json_body()
    if not isinstance(body, dict) or "name" not in body:
        raise InvalidInput('request body must be a JSON object with a "name"', 'send {"name": "<store name>"}')
    name = body["name"]
    if not isinstance(name, str):
        raise InvalidInput('"name" must be a string')
    return name


def create_store(call: Call) -> Response:
    location = call.q(wire.LOCATION_PARAM) or None
    store = call.engine.create_store(_name_from_body(call), location)
    return json_response(store_json(store), 201)


def list_stores(call: Call) -> Response:
    limit = call.int_param("limit")
    name = call.q("name")
    if name:
        try:
            found = [call.engine.find_store(name)]
        except NotFound:
            found = []
        meta: dict[str, Any] = {"limit": limit or wire.DEFAULT_LIST_LIMIT, "total": len(found)}
        return json_response({"data": [store_json(s) for s in found], "meta": meta})
    page = call.engine.list_stores(cursor=call.q("cursor") or None, limit=limit)
    meta = {"limit": limit or wire.DEFAULT_LIST_LIMIT, "total": page.total}
    if page.next_cursor:
        meta["next_cursor"] = page.next_cursor
    return json_response({"data": [store_json(s) for s in page.items], "meta": meta})


def get_store(call: Call) -> Response:
    store = call.engine.get_store(call.params["store_id"])
    if call.header(wire.H_DELETE_CHECK) == wire.DELETE_CHECK_ASK:  # kvcli's pre-check before emptying a store
        call.engine.check_store_deletable(store.id)
        return json_response(store_json(store), headers={wire.H_DELETE_CHECK: wire.DELETE_CHECK_OK})
    return json_response(store_json(store))


def rename_store(call: Call) -> Response:
    store = call.engine.rename_store(call.params["store_id"], _name_from_body(call))
    return json_response(store_json(store))


def delete_store(call: Call) -> Response:
    call.engine.delete_store(call.params["store_id"])
    return Response(status_code=204)


def list_keys(call: Call) -> Response:
    limit = call.int_param("limit")
    prefix = call.q("prefix") or None
    consistency = call.q("consistency") or "strong"
    page = call.engine.list_keys(
        call.params["store_id"], prefix=prefix, cursor=call.q("cursor") or None, limit=limit, consistency=consistency
    )
    meta: dict[str, Any] = {"limit": limit or wire.DEFAULT_LIST_LIMIT}
    if prefix:
        meta["prefix"] = prefix
    headers: dict[str, str] = {}
    if consistency == "eventual":
        meta["consistency"] = "eventual"
        headers[wire.H_AGE] = "0"
    if page.next_cursor:
        meta["next_cursor"] = page.next_cursor
    return json_response({"data": page.items, "meta": meta}, headers=headers)


def _item_headers(info) -> dict[str, str]:
    headers = {
        wire.H_GENERATION: str(info.generation),
        wire.H_METADATA: header_value(info.metadata or ""),
        wire.H_STORED_LENGTH: str(info.size),
    }
    if info.last_modified is not None:
        headers[wire.H_LAST_MODIFIED] = wire.http_date(info.last_modified)
    if info.expires_at is not None:
        headers[wire.H_EXPIRES] = wire.format_expires(info.expires_at)
    return headers


def get_item(call: Call) -> Response:
    item = call.engine.get_item(call.params["store_id"], call.params["key"])
    return Response(item.value, media_type=wire.CT_OCTET, headers=_item_headers(item.info))


def head_item(call: Call) -> Response:
    info = call.engine.describe_item(call.params["store_id"], call.params["key"])
    headers = _item_headers(info) | {"content-length": str(info.size)}
    return Response(b"", media_type=wire.CT_OCTET, headers=headers)


def put_item(call: Call) -> Response:
    add, append, prepend = call.flag("add"), call.flag("append"), call.flag("prepend")
    if append and prepend:
        raise InvalidInput("append and prepend cannot be combined", "send only one of them")
    # add (must not exist) wins over append/prepend: on a missing key those simply create it
    mode = PutMode.ADD if add else PutMode.APPEND if append else PutMode.PREPEND if prepend else PutMode.UPSERT
    ttl = call.uint_header(wire.H_TTL)
    call.engine.put_item(
        call.params["store_id"],
        call.params["key"],
        call.body,
        metadata=call.header(wire.H_METADATA),
        ttl=ttl,
        mode=mode,
        if_generation_match=call.uint_header(wire.H_IF_GENERATION_MATCH),
        background_fetch=call.flag("background_fetch"),
    )
    return Response(b"", status_code=200)


def delete_item(call: Call) -> Response:
    call.engine.delete_item(
        call.params["store_id"],
        call.params["key"],
        force=call.flag("force"),
        if_generation_match=call.uint_header(wire.H_IF_GENERATION_MATCH),
    )
    return Response(status_code=204)


# ----------------------------------------------------------------------------------------------------- batch
_WS = " \t\r\n\ufeff"


def _next_record(text: str, pos: int) -> int:
    """After unparseable input at ``pos``: the start of the next line that begins (after blanks) with ``{``."""
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
        stripped = pos
        while stripped < len(text) and text[stripped] in " \t\r":
            stripped += 1
        if stripped < len(text) and text[stripped] == "{":
            return stripped


def _batch_entry(obj: Any) -> tuple[BatchEntry | None, str, str | None]:
    """(entry, key, problem) for one decoded batch record; the engine checks key/metadata/size/TTL rules."""
    if not isinstance(obj, dict):
        return None, "", "each line must be a JSON object"
    key = obj.get("key")
    if not isinstance(key, str) or key == "":
        return None, key if isinstance(key, str) else "", '"key" is required and must be a non-empty string'
    value = obj.get("value")
    if not isinstance(value, str):
        return None, key, '"value" is required and must be a base64 string'
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None, key, '"value" is not valid base64'
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        return None, key, '"metadata" must be a string'
    ttl = obj.get("time_to_live_sec")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        return None, key, '"time_to_live_sec" must be a whole number of seconds'
    bg = obj.get("background_fetch", False)
    if bg is not None and not isinstance(bg, bool):
        return None, key, '"background_fetch" must be true or false'
    return BatchEntry(key=key, value=data, metadata=metadata, ttl=ttl, background_fetch=bool(bg)), key, None


#: records are written in transactions of at most this many records or value bytes, so that the write lock is held
#: briefly and memory holds one chunk of a batch of any size
BATCH_CHUNK_RECORDS = 1000
BATCH_CHUNK_BYTES = 8 * 1024 * 1024
#: at most this many per-record errors are listed in a batch answer (the title counts them all)
MAX_LISTED_ERRORS = 10_000
#: what a record may hold besides its base64 value (key, metadata, field names, JSON escapes)
RECORD_OVERHEAD = 64 * 1024

BatchRecord = tuple[int, BatchEntry] | BatchError
_KEY_AT_START = re.compile(rb'\s*\{\s*"key"\s*:\s*"((?:[^"\\]|\\.){0,4096})"')


def record_limit(value_limit: int) -> int:
    """The longest batch record kept for parsing: a value of ``value_limit`` bytes in base64 (with room for escaped
    ``/``), plus RECORD_OVERHEAD. A longer record is refused without being held in memory."""
    b64 = 4 * -(-value_limit // 3)
    return b64 + b64 // 32 + RECORD_OVERHEAD


def _key_of_long_record(head: bytes) -> str:
    """The key of a record too long to parse, when it starts with ``{"key": "..."`` (else "")."""
    m = _KEY_AT_START.match(head)
    if not m:
        return ""
    try:
        key = json.loads(b'"' + m.group(1) + b'"')
    except ValueError:
        return ""
    return key if isinstance(key, str) else ""


def _first_record_line(text: str) -> int:
    """The start of the first line of ``text`` that begins (after blanks) with ``{``, or ``len(text)``."""
    stripped = 0
    while stripped < len(text) and text[stripped] in " \t\r":
        stripped += 1
    if stripped < len(text) and text[stripped] == "{":
        return stripped
    return _next_record(text, 0)


class BatchParser:
    """An NDJSON batch body parsed as it arrives: :meth:`feed` bytes, then :meth:`finish`; each returns the records
    completed so far, as ``(index, entry)`` or a :class:`BatchError`.

    Records are JSON objects separated by whitespace: blank lines are ignored and leading whitespace is tolerated
    (so pretty-printed objects work too). The index of a record counts records (0-based), which for ordinary NDJSON
    is the line number. After an unparseable record, parsing resumes at the next line starting with ``{``. A record
    longer than ``limit`` is one error (its key named when it starts with ``"key"``) and is never held whole.

    Memory holds the current record and one fed chunk. Only complete lines are parsed (a JSON string cannot hold a
    raw line break, so a record cut at a line end is recognisably incomplete: its error lies at the end of the
    text); an incomplete record is retried once the text after it has doubled, so a record of many lines costs
    linear time.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.index = 0
        self.tail = bytearray()  # bytes after the last line break
        self.discarding = False  # inside a line too long to keep: dropped up to its line break
        self.pieces: list[str] = []  # complete lines not parsed yet (a record that spans lines)
        self.pending = 0  # their length
        self.tried = 0  # self.pending when it was last found incomplete
        self.skipping = False  # after a bad record: lines are dropped until one starts with "{"
        self.decoder = json.JSONDecoder()
        self.out: list[BatchRecord] = []

    def feed(self, data: bytes) -> list[BatchRecord]:
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if self.discarding:
                if nl < 0:
                    return self._take()
                self.discarding = False
                pos = nl + 1
                continue
            if nl < 0:
                self.tail += data[pos:]
                if len(self.tail) > self.limit:
                    self._too_long(bytes(self.tail[:8192]))
                    self.tail.clear()
                    self.discarding = True
                return self._take()
            # the complete lines of this chunk, up to its last line break (one decode, not one per line)
            last = data.rfind(b"\n") + 1
            first_len = len(self.tail) + nl + 1 - pos
            if first_len > self.limit:
                self._too_long(bytes(self.tail[:8192]) + data[pos : pos + 8192])
                self.tail.clear()
                pos = nl + 1
                continue
            if last - nl - 1 > self.limit and self._has_long_line(data, nl + 1, last):
                last = nl + 1  # a long line further on: take lines one at a time
            complete = bytes(self.tail) + data[pos:last] if self.tail else data[pos:last]
            self.tail.clear()
            self._add(complete.decode("utf-8", errors="surrogateescape"))
            pos = last
        return self._take()

    def finish(self) -> list[BatchRecord]:
        if self.tail and not self.discarding:
            self._add(bytes(self.tail).decode("utf-8", errors="surrogateescape"))
            self.tail.clear()
        self._parse(final=True)
        return self._take()

    def _has_long_line(self, data: bytes, start: int, end: int) -> bool:
        while start < end:
            nl = data.find(b"\n", start, end)
            if nl - start + 1 > self.limit:
                return True
            start = nl + 1
        return False

    def _take(self) -> list[BatchRecord]:
        out, self.out = self.out, []
        return out

    def _error(self, key: str, reason: str) -> None:
        self.out.append(BatchError(index=self.index, key=key, code="400", reason=reason))
        self.index += 1

    def _too_long(self, head: bytes) -> None:
        self._parse(final=True)  # whatever came before it is complete now
        self._error(
            _key_of_long_record(head),
            f"record is longer than {self.limit} bytes (values are limited to {self._value_limit()} bytes)",
        )

    def _value_limit(self) -> int:
        b64 = (self.limit - RECORD_OVERHEAD) * 32 // 33
        return b64 * 3 // 4

    def _add(self, text: str) -> None:
        self.pieces.append(text)
        self.pending += len(text)
        if self.tried and self.pending < 2 * self.tried and self.pending <= self.limit:
            return  # an incomplete record: retried when its text has doubled (or at the end)
        self._parse(final=self.pending > self.limit)

    def _parse(self, final: bool) -> None:
        text, pos = "".join(self.pieces), 0
        self.pieces, self.pending, self.tried = [], 0, 0
        if self.skipping:
            pos = _first_record_line(text)
            if pos >= len(text):
                return
            self.skipping = False
        n = len(text)
        end_of_content = len(text.rstrip(_WS))
        while True:
            while pos < n and text[pos] in _WS:
                pos += 1
            if pos >= n:
                return
            try:
                obj, pos = self.decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError and the int digit limit
                if isinstance(exc, json.JSONDecodeError) and exc.pos >= end_of_content:
                    if not final:  # cut at the end of what has arrived: wait for more
                        self.pieces = [text[pos:]]
                        self.pending = self.tried = n - pos
                        return
                    if n - pos > self.limit:
                        self._error("", f"record is longer than {self.limit} bytes")
                        self.skipping = True
                        return
                why = json_problem(exc) if isinstance(exc, ValueError) else NESTED_TOO_DEEPLY
                self._error("", f"invalid JSON: {why}")
                pos = _next_record(text, pos)
                if pos >= n:
                    self.skipping = True
                    return
                continue
            entry, key, problem = _batch_entry(obj)
            if entry is None:
                self._error(key, problem or "invalid record")
            else:
                self.out.append((self.index, entry))
                self.index += 1


def parse_batch(body: bytes, limit: int | None = None) -> tuple[list[tuple[int, BatchEntry]], list[BatchError], int]:
    """Parse a whole NDJSON batch body: (good entries with their record index, errors, number of records).
    See :class:`BatchParser` for the format."""
    parser = BatchParser(record_limit(limit or validation.max_value_bytes()))
    good: list[tuple[int, BatchEntry]] = []
    errors: list[BatchError] = []
    for record in parser.feed(body) + parser.finish():
        if isinstance(record, BatchError):
            errors.append(record)
        else:
            good.append(record)
    return good, errors, parser.index


class BatchWriter:
    """Writes a batch's good records in chunks (one short transaction each) and collects the per-record errors."""

    def __init__(self, engine: Engine, store_id: str) -> None:
        self.engine = engine
        self.store_id = store_id
        self.pending: list[tuple[int, BatchEntry]] = []
        self.pending_bytes = 0
        self.errors: list[BatchError] = []
        self.failed = 0
        self.written = 0

    def add(self, record: BatchRecord) -> None:
        if isinstance(record, BatchError):
            self._failed(record)
            return
        self.pending.append(record)
        self.pending_bytes += len(record[1].value)
        if len(self.pending) >= BATCH_CHUNK_RECORDS or self.pending_bytes >= BATCH_CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending, self.pending_bytes = self.pending, [], 0
        result = self.engine.put_batch(self.store_id, [entry for _, entry in chunk])
        self.written += result.written
        for err in result.errors:
            self._failed(BatchError(index=chunk[err.index][0], key=err.key, code=err.code, reason=err.reason))

    def _failed(self, error: BatchError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)


_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _printable(text: str) -> str:
    """Undecodable bytes (kept as surrogates while parsing) and lone surrogates (from ``\\ud800`` escapes) shown as
    U+FFFD in a JSON answer."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def put_batch(call: Call) -> Response:
    """Good records are written even when others fail; any failure answers 400 with errors[].

    The body is parsed as it arrives and written in chunks of BATCH_CHUNK_RECORDS records (one short transaction
    each), so a batch of any size runs in bounded memory and other writers get the database between chunks.
    """
    store_id = call.params["store_id"]
    call.engine.get_store(store_id)  # 404 for an unknown store, before reading the body
    parser = BatchParser(record_limit(_value_limit(call.engine)))
    writer = BatchWriter(call.engine, store_id)
    for chunk in call.chunks:
        for record in parser.feed(chunk):
            writer.add(record)
    for record in parser.finish():
        writer.add(record)
    writer.flush()
    if not writer.failed:
        return json_response(wire.BATCH_SUCCESS)
    errors = sorted(writer.errors, key=lambda e: e.index)
    listed = "" if writer.failed == len(errors) else f" (the first {len(errors)} are listed)"
    body = {
        "type": wire.BATCH_ERROR_TYPE,
        "title": f"{writer.failed} of {parser.index} entries failed; the other {writer.written} were written{listed}",
        "errors": [
            {"key": _printable(e.key), "index": e.index, "code": e.code, "reason": _printable(e.reason)} for e in errors
        ],
    }
    return json_response(body, 400)


def short_listing(call: Call) -> bool:
    """A list page of at most the default limit (1,000 keys): answered on the event loop; a longer one in a thread."""
    raw = call.q("limit")
    if raw is None or raw == "":
        return True
    try:
        return int(raw) <= wire.DEFAULT_LIST_LIMIT
    except ValueError:
        return True  # refused at once by the handler


def register(router: Router) -> None:
    """The KV store, item and batch endpoints, plus the OIDC discovery document.

    The short reads run on the event loop (``inline``): an item or its description (one indexed row; a value is at
    most the value size limit), a store, a page of at most 1,000 keys. The store list (every store, sorted in
    Python), longer key pages, every write and the streamed batch run in worker threads."""
    router.add("GET", wire.OIDC_PATH, oidc_configuration, public=True, inline=True)
    router.add("POST", STORES, create_store)
    router.add("GET", STORES, list_stores)
    router.add("GET", STORE, get_store, inline=True)
    router.add("PUT", STORE, rename_store)
    router.add("DELETE", STORE, delete_store)
    router.add("GET", KEYS, list_keys, inline=short_listing)
    router.add("PUT", BATCH, put_batch, streamed=True)
    router.add("GET", ITEM, get_item, inline=True)
    router.add("HEAD", ITEM, head_item, inline=True)
    router.add("PUT", ITEM, put_item, body_limit=_value_limit)
    router.add("DELETE", ITEM, delete_item)
