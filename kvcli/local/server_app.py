"""The ASGI endpoint of ``kvcli local serve``: auth, routing on the raw path, body reading, error mapping, and where
each handler runs (the event loop or a worker thread). Built by :func:`kvcli.local.server.create_app`.
"""

from __future__ import annotations

import hmac
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kvcli.api import validation, wire
from kvcli.api.errors import ApiError, TooLarge
from kvcli.local.engine import Engine
from kvcli.local.server_base import (
    MAX_HEADER_BYTES,
    Call,
    Route,
    Router,
    decode_segment,
    error_response,
    legacy_error,
    raw_segments,
)
from kvcli.local.server_safety import HostPolicy

#: a streamed route's body (a batch) of at most this many bytes, by its Content-Length, is read on the event loop
#: before its handler runs in a worker thread, so that a slow upload holds no thread and the handler needs no
#: hand-off to the loop per chunk; a longer or chunked body is read by the handler as it arrives
SMALL_STREAMED_BODY = 1 << 20


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
            chunks = (await self.small_body(request, body_in) or body_in.blocking()) if route.streamed else ()
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            call = Call(
                request=request,
                params=params,
                body=body,
                engine=self.engine,
                query=query,
                base_url=self.own_url(scope),
                chunks=chunks,
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

    async def small_body(self, request: Request, body_in: Body) -> tuple[bytes] | None:
        """A streamed route's whole body when its Content-Length is at most SMALL_STREAMED_BODY (read here, on the
        event loop: the handler's worker thread neither waits for it nor fetches it chunk by chunk), else None."""
        length = request.headers.get("content-length")
        if length is None or not (length.isascii() and length.isdigit()) or int(length) > SMALL_STREAMED_BODY:
            return None
        chunks: list[bytes] = []
        while (chunk := await body_in.next()) is not None:
            chunks.append(chunk)
        return (b"".join(chunks),)

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
