"""The httpx session: one pooled ``httpx.Client`` (see :mod:`kvcli.api.http.session`).

Used for everything but the click-free fast path: concurrent and bulk work (a pool of 100 connections), a caller's
``transport=`` (``httpx.MockTransport`` in tests), proxies from the environment. httpx's exceptions become
:class:`~kvcli.api.http.session.SendFailure` here, with the httpx exception as their cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

import kvcli.api.http.deadline_httpcore as bounded
from kvcli.api.http.session import KINDS, SendFailure, Timeout


def _failure(exc: httpx.TransportError | httpx.DecodingError) -> SendFailure:
    kind = next((cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in KINDS), "TransportError")
    failure = SendFailure(kind, str(exc), type(exc).__name__)
    failure.__cause__ = exc
    return failure


class HttpxSession:
    """Requests through one ``httpx.Client`` (thread-safe, pooled)."""

    def __init__(self, *, timeout: Timeout, user_agent: str, verify: bool,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout.read, connect=timeout.connect, write=timeout.write, pool=timeout.pool),
            headers={"User-Agent": user_agent},
            follow_redirects=False,  # a redirect must never carry Fastly-Key to another host
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            verify=verify,
        )
        if transport is None:
            bounded.install(self.client)  # the attempt's time limit on every socket operation

    def build(self, method: str, url: str, *, params: Mapping[str, str] | None, json: Any,
              form: Mapping[str, str] | None, content: bytes | None, headers: Mapping[str, Any]) -> httpx.Request:
        return self.client.build_request(method, url, params=params, json=json, data=form, content=content,
                                         headers=headers)  # fmt: skip

    def send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _failure(exc) from exc

    def body_chunks(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_raw()
        except httpx.TransportError as exc:
            raise _failure(exc) from exc

    def decoded_fallback(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _failure(exc) from exc

    @staticmethod
    def has_body(response: httpx.Response) -> bool:
        return hasattr(response, "_content")

    @staticmethod
    def set_content(response: httpx.Response, content: bytes) -> None:
        response._content = content  # what response.read() would have stored

    def close(self) -> None:
        self.client.close()
