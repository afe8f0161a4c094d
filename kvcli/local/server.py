"""``kvcli local serve``: the embedded engine served as Fastly's KV store HTTP API.

A thin translation layer: HTTP requests become engine calls, engine results and typed errors become Fastly's
statuses, headers and bodies (see the wire constants in :mod:`kvcli.api.wire`). Routing is done on the *raw* request
path (ASGI ``scope["raw_path"]``) by a small router of its own, so a key such as ``a/b`` sent as ``a%2Fb`` stays one
path segment.

Extension point: the router is a list of ``(method, pattern, handler)`` routes. Another module can add routes (for
example the ``/service/...`` endpoints of resource links) by defining ``register(router: Router) -> None``; modules
named in :data:`ROUTE_MODULES` are imported and registered by :func:`create_app` when they exist. Handlers are plain
(synchronous) functions taking a :class:`Call` and returning a Starlette ``Response``; they run in a worker thread,
because engine calls block on SQLite.
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
from collections.abc import Callable, Iterable
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
from kvcli.api.errors import ApiError, InvalidInput, NotFound
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
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
}

Handler = Callable[["Call"], Response]


# ------------------------------------------------------------------------------------------------ responses
NESTED_TOO_DEEPLY = "nested too deeply"


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


def is_loopback_name(name: str) -> bool:
    """A Host name that can only mean this machine: ``localhost`` (and ``*.localhost``, RFC 6761), 127.0.0.0/8,
    ``::1``. Never resolved: under DNS rebinding the attacker's name resolves to 127.0.0.1 too."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    import ipaddress

    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


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
            if not (is_loopback_name(name) or name in self.allowed):
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
        return (is_loopback_name(name) or name in self.allowed) and port is not None and port == str(server_port)


# --------------------------------------------------------------------------------------------------- routing
@dataclass
class Call:
    """One request as a handler sees it: decoded path parameters, the query, headers and the whole body."""

    request: Request
    params: dict[str, str]
    body: bytes
    engine: Engine
    query: dict[str, list[str]] = field(default_factory=dict)
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
                               "send Unicode text (a surrogate pair escapes one character beyond U+FFFF)")
        return obj


@dataclass(frozen=True)
class Route:
    method: str
    segments: tuple[str, ...]  # literal segments, or "{name}" for a parameter matching one raw segment
    handler: Handler
    public: bool = False  # answered without the Fastly-Key check (e.g. the OIDC document)
    body_limit: Callable[[Engine], int | None] | None = None  # bodies over this answer 413 (None: unlimited)

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
    ) -> None:
        self.routes.append(Route(method.upper(), split_pattern(pattern), handler, public, body_limit))

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
    ) -> None:
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
        response = await self.respond(request, scope)
        if request.method == "HEAD" and response.body:
            response = Response(
                b"",
                status_code=response.status_code,
                headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                | {"content-length": str(len(response.body))},
            )
        await response(scope, receive, send)

    async def respond(self, request: Request, scope: dict) -> Response:
        refused = self.hosts.problem(request.headers, scope)
        if refused:
            await self.drain(request)
            return legacy_error(403, refused)
        segments = raw_segments(scope)
        route, raw_params, allowed = self.router.match(request.method, segments)
        if route is None or not route.public:
            if not self.authorised(request):
                await self.drain(request)
                return legacy_error(401)
        if route is None:
            await self.drain(request)
            if allowed:
                resp = legacy_error(405, f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}")
                resp.headers["Allow"] = ", ".join(sorted(allowed))
                return resp
            return legacy_error(404, f"no such endpoint: {request.method} {request.url.path}")
        try:
            params = {name: decode_segment(raw) for name, raw in raw_params.items()}
            limit = route.body_limit(self.engine) if route.body_limit else None
            body = await self.read_body(request, limit)
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            call = Call(
                request=request, params=params, body=body, engine=self.engine, query=query, base_url=self.own_url(scope)
            )
            return await run_in_threadpool(route.handler, call)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure must still answer, and be logged
            traceback.print_exc(file=sys.stderr)
            return legacy_error(500, f"{type(exc).__name__}: {exc}")

    @staticmethod
    async def read_body(request: Request, limit: int | None) -> bytes:
        """The whole body; over ``limit`` the rest is drained (not kept) and 413 is raised."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if limit is not None and size > limit:
                chunks.clear()
                continue
            chunks.append(chunk)
        if limit is not None and size > limit:
            validation.check_value_size(size, limit)
        return b"".join(chunks)

    @staticmethod
    async def drain(request: Request) -> None:
        async for _ in request.stream():
            pass


def create_app(
    engine_or_data_dir: Engine | str | Path,
    token: str | None = None,
    *,
    base_url: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
) -> Starlette:
    """The Starlette app serving ``engine_or_data_dir`` (an Engine, or a data directory to open) as Fastly's API.

    With ``token``, requests whose ``Fastly-Key`` differs get 401; without, any key (or none) is accepted.
    ``base_url`` is the server's own URL, named in the discovery document (default: the socket's local address).
    With ``allowed_hosts`` (an iterable, possibly empty), only requests whose Host is a loopback name or one of these
    names are answered (others get 403): pass it when serving on a loopback address. Requests carrying a foreign
    ``Origin`` or ``Sec-Fetch-Site`` are refused in any case (see :class:`HostPolicy`).
    The app exposes ``app.state.router`` (add routes to it) and ``app.state.engine``.
    """
    owned = not isinstance(engine_or_data_dir, Engine)
    engine = Engine.in_dir(engine_or_data_dir) if owned else engine_or_data_dir
    router = build_router()
    hosts = HostPolicy(
        check_host=allowed_hosts is not None,
        allowed=frozenset(split_host(h)[0] for h in allowed_hosts or ()),
    )
    api = FastlyApi(engine, router, token, base_url=base_url, hosts=hosts)

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
    return json_response(store_json(call.engine.get_store(call.params["store_id"])))


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


def parse_batch(body: bytes) -> tuple[list[tuple[int, BatchEntry]], list[BatchError], int]:
    """Parse an NDJSON batch body: (good entries with their record index, errors, number of records).

    Records are JSON objects separated by whitespace: blank lines are ignored and leading whitespace is tolerated
    (so pretty-printed objects work too). The index of a record counts records (0-based), which for ordinary NDJSON
    is the line number. After an unparseable record, parsing resumes at the next line starting with ``{``.
    """
    text = body.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()
    good: list[tuple[int, BatchEntry]] = []
    errors: list[BatchError] = []
    pos, index, n = 0, 0, len(text)
    while True:
        while pos < n and text[pos] in _WS:
            pos += 1
        if pos >= n:
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError and the int digit limit
            problem = json_problem(exc) if isinstance(exc, ValueError) else NESTED_TOO_DEEPLY
            errors.append(BatchError(index=index, key="", code="400", reason=f"invalid JSON: {problem}"))
            pos = _next_record(text, pos)
            index += 1
            continue
        entry, key, problem = _batch_entry(obj)
        if entry is None:
            errors.append(BatchError(index=index, key=key, code="400", reason=problem or "invalid record"))
        else:
            good.append((index, entry))
        index += 1
    return good, errors, index


_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _printable(text: str) -> str:
    """Undecodable bytes (kept as surrogates while parsing) and lone surrogates (from ``\\ud800`` escapes) shown as
    U+FFFD in a JSON answer."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def put_batch(call: Call) -> Response:
    """Good records are written (one transaction) even when others fail; any failure answers 400 with errors[]."""
    store_id = call.params["store_id"]
    good, errors, total = parse_batch(call.body)
    if not good:
        call.engine.get_store(store_id)  # 404 for an unknown store, even when every record is bad
    result = call.engine.put_batch(store_id, [entry for _, entry in good])
    for err in result.errors:
        errors.append(BatchError(index=good[err.index][0], key=err.key, code=err.code, reason=err.reason))
    if not errors:
        return json_response(wire.BATCH_SUCCESS)
    errors.sort(key=lambda e: e.index)
    body = {
        "type": wire.BATCH_ERROR_TYPE,
        "title": f"{len(errors)} of {total} entries failed; the other {result.written} were written",
        "errors": [
            {"key": _printable(e.key), "index": e.index, "code": e.code, "reason": _printable(e.reason)} for e in errors
        ],
    }
    return json_response(body, 400)


def register(router: Router) -> None:
    """The KV store, item and batch endpoints, plus the OIDC discovery document."""
    router.add("GET", wire.OIDC_PATH, oidc_configuration, public=True)
    router.add("POST", STORES, create_store)
    router.add("GET", STORES, list_stores)
    router.add("GET", STORE, get_store)
    router.add("PUT", STORE, rename_store)
    router.add("DELETE", STORE, delete_store)
    router.add("GET", KEYS, list_keys)
    router.add("PUT", BATCH, put_batch)
    router.add("GET", ITEM, get_item)
    router.add("HEAD", ITEM, head_item)
    router.add("PUT", ITEM, put_item, body_limit=_value_limit)
    router.add("DELETE", ITEM, delete_item)
