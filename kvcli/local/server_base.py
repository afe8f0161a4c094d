"""The pieces of ``kvcli local serve``'s HTTP layer that every handler module shares: Fastly's error bodies and
responses, the :class:`Call` a handler gets, and the raw-path :class:`Router`.

:mod:`kvcli.local.server` (``create_app``) and the handler modules (:mod:`kvcli.local.server_app`,
:mod:`kvcli.local.server_routes`, :mod:`kvcli.local.server_batch`, :mod:`kvcli.local.server_services`) import them
from here, so none of them imports :mod:`kvcli.local.server` back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from kvcli.api import wire
from kvcli.api.errors import ApiError, InvalidInput
from kvcli.api.models import Store
from kvcli.local.engine import Engine
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

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
