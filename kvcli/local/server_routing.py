"""The local server's router: a request as a :class:`Call`, :class:`Route` patterns matched on the raw path
segments, the :class:`Router` that route modules register on (see :mod:`kvcli.local.server`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from kvcli.api import wire
from kvcli.api.errors import InvalidInput
from kvcli.local.engine import Engine
from kvcli.local.server_responses import NESTED_TOO_DEEPLY, SMALL_BODY_LIMIT, json_problem, unicode_only

Handler = Callable[["Call"], Response]


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
