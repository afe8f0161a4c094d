"""The seam between :class:`~kvcli.api.http.client.FastlyHttp` and the code that moves bytes: a *session*.

A session builds one request and sends it, giving back a response unread (``status_code``, ``reason_phrase``,
case-insensitive ``headers``, ``iter_raw()`` for the body as it arrives, ``content`` once read, ``close()``). Two
implement it: :class:`kvcli.api.http.httpx_session.HttpxSession` (httpx: pooled, for concurrent and bulk work, test
transports, proxies) and :class:`kvcli.api.http.light.LightSession` (plain sockets, HTTP/1.1, for the click-free fast
path, where importing httpx would cost more than the request). FastlyHttp *has* one and never asks which.

A failure to move bytes is a :class:`SendFailure`, classified the way the retry rules need it (docs/http.md):
``not_sent`` (connect error, connect timeout, no free pooled connection: repeating is harmless), ``maybe_sent``
(read/write error, remote protocol error, read/write timeout: the request may have reached the server), or neither
(a local protocol error, an unsupported URL, a body that cannot be decoded). Its ``kind`` is the name httpx gives the
same failure, so that messages and ``--debug`` lines do not depend on the session.

This module imports nothing heavy: the light path needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from typing import Protocol

#: failures before the request left this machine: repeating them is always harmless
NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
#: failures after the request may have reached the server
MAYBE_SENT = frozenset({"ReadError", "WriteError", "RemoteProtocolError", "ReadTimeout", "WriteTimeout"})
#: every kind a session reports (the rest of httpx's transport errors, e.g. ProxyError, count as "TransportError")
KINDS = NOT_SENT | MAYBE_SENT | {"LocalProtocolError", "UnsupportedProtocol", "DecodingError", "TransportError"}


class SendFailure(Exception):
    """Moving a request or its answer failed. ``kind``: one of :data:`KINDS`; ``name``: the class name httpx would
    raise (a subclass of ``kind``, e.g. ProxyError); the cause chain holds the underlying error (e.g. the ssl one)."""

    def __init__(self, kind: str, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind if kind in KINDS else "TransportError"
        self.name = name or kind

    @property
    def not_sent(self) -> bool:
        return self.kind in NOT_SENT

    @property
    def maybe_sent(self) -> bool:
        return self.kind in MAYBE_SENT


@dataclass(frozen=True)
class Timeout:
    """Seconds each network operation may wait (as httpx.Timeout: connect, read, write, a pooled connection)."""

    read: float | None
    connect: float | None = None
    write: float | None = None
    pool: float | None = None

    @classmethod
    def of(cls, read: float | None, connect: float | None) -> Timeout:
        return cls(read=read, connect=connect, write=read, pool=read)

    @classmethod
    def like(cls, other: Any) -> Timeout:
        """A copy of anything with httpx.Timeout's four attributes (an httpx.Timeout given by a caller)."""
        return cls(read=other.read, connect=other.connect, write=other.write, pool=other.pool)


if TYPE_CHECKING:  # the shapes sessions give; nothing at run time needs the classes

    class Headers(Protocol):
        def get(self, key: str, default: Any = None) -> Any: ...
        def __contains__(self, key: object) -> bool: ...
        def __getitem__(self, key: str) -> str: ...
        @property
        def raw(self) -> list[tuple[bytes, bytes]]: ...
        @property
        def encoding(self) -> str: ...


    class Request(Protocol):
        method: str
        headers: Any

        @property
        def url(self) -> Any: ...
        @property
        def content(self) -> bytes: ...


    class Response(Protocol):
        @property
        def status_code(self) -> int: ...
        @property
        def reason_phrase(self) -> str: ...
        @property
        def headers(self) -> Any: ...
        @property
        def request(self) -> Any: ...
        @property
        def content(self) -> bytes: ...
        def iter_raw(self) -> Iterator[bytes]: ...
        def iter_bytes(self) -> Iterator[bytes]: ...
        def close(self) -> None: ...


    class Session(Protocol):
        def build(
            self,
            method: str,
            url: str,
            *,
            params: Mapping[str, str] | None,
            json: Any,
            form: Mapping[str, str] | None,
            content: bytes | None,
            headers: Mapping[str, Any],
        ) -> Any: ...
        def send(self, request: Any) -> Any:
            """Send ``request``; the response is returned with its body unread (raises :class:`SendFailure`)."""
        def body_chunks(self, response: Any) -> Iterator[bytes]:
            """The raw (still encoded) body as it arrives (raises :class:`SendFailure`)."""
        def decoded_fallback(self, response: Any) -> Iterator[bytes]:
            """The body decoded by the session, for encodings :mod:`kvcli.api.http.decode` does not handle."""
        def has_body(self, response: Any) -> bool:
            """Whether the body was already read (e.g. a test transport's response built with content=)."""
        def set_content(self, response: Any, content: bytes) -> None: ...
        def close(self) -> None: ...
