"""``kvcli local serve``: the embedded engine served as Fastly's KV store HTTP API.

A thin translation layer: HTTP requests become engine calls, engine results and typed errors become Fastly's
statuses, headers and bodies (see the wire constants in :mod:`kvcli.api.wire`). Routing is done on the *raw* request
path (ASGI ``scope["raw_path"]``) by a small router of its own, so a key such as ``a/b`` sent as ``a%2Fb`` stays one
path segment. The pieces live in modules of their own: the ASGI endpoint (:mod:`kvcli.local.server_app`), the
Host and Origin checks (:mod:`kvcli.local.server_safety`), the store and item handlers
(:mod:`kvcli.local.server_routes`), the batch endpoint (:mod:`kvcli.local.server_batch`) and the ``/service``
endpoints (:mod:`kvcli.local.server_services`); this module has the responses, the router and :func:`create_app`.

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

import importlib
import json
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from kvcli.api import wire
from kvcli.api.errors import ApiError, InvalidInput
from kvcli.api.models import Store
from kvcli.local.engine import Engine
from kvcli.local.server_safety import HostPolicy, split_host

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
    from kvcli.local.server_app import FastlyApi

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

    app = _ApiApp(lifespan=lifespan)
    app.api = api
    # every request goes to the API endpoint (not through a Mount: its path regex would not match a decoded
    # newline, and routing must look at the raw path anyway)
    app.router.default = api
    app.state.engine = engine
    app.state.router = router
    app.state.api = api
    return app


class _ApiApp(Starlette):
    """Starlette for the lifespan; HTTP requests go straight to the API endpoint, which answers every path and
    turns every failure into an answer itself (Starlette's error and exception middleware and its empty route list
    took a tenth of a request's time)."""

    api: Any = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.api is not None:
            scope["app"] = self
            await self.api(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


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


def register(router: Router) -> None:
    """The KV store, item and batch endpoints, plus the OIDC discovery document.

    The short reads run on the event loop (``inline``): an item or its description (one indexed row; a value is at
    most the value size limit), a store, a page of at most 1,000 keys. The store list (every store, sorted in
    Python), longer key pages, every write and the streamed batch run in worker threads."""
    from kvcli.local.server_batch import put_batch
    from kvcli.local.server_routes import (
        BATCH,
        ITEM,
        KEYS,
        STORE,
        STORES,
        _value_limit,
        create_store,
        delete_item,
        delete_store,
        get_item,
        get_store,
        head_item,
        list_keys,
        list_stores,
        oidc_configuration,
        put_item,
        rename_store,
        short_listing,
    )

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
