"""An attempt's time limit, enforced on every network read and write.

httpx's timeouts apply to each read or write on its own, so a server that sends one byte every few seconds never
trips them, while its headers (up to httpcore's 100 KiB) or its body trickle in for days. :class:`Attempt` is the
limit of one attempt: ``deadline`` seconds, plus one second per ``min_rate`` bytes uploaded, plus (for a value's
body) one second per ``min_rate`` bytes received, so a large transfer that keeps moving gets the time it needs.

:func:`install` wraps the network backend of an ``httpx.Client``'s connection pools, so that each socket read or
write of the calling thread waits no longer than what is left of that thread's current attempt (a pooled connection
serves one request at a time, in the thread that sent it). The body reader checks the same attempt as data arrives,
so the limit also holds for transports without sockets (``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpcore
import httpx


class Attempt:
    """The time budget of one attempt (measured on ``clock``, from ``t0``)."""

    def __init__(self, clock: Callable[[], float], t0: float, base: float, per_byte: float) -> None:
        self.clock = clock
        self.t0 = t0
        self.base = base  # deadline plus the upload's share
        self.per_byte = per_byte  # seconds each received byte earns (0 for small answers)
        self.received = 0
        self.expired = False  # set when a network operation was cut short by this limit

    @property
    def allowed(self) -> float:
        return self.base + self.received * self.per_byte

    def remaining(self) -> float:
        return self.allowed - (self.clock() - self.t0)


_current = threading.local()


def begin(attempt: Attempt | None) -> None:
    """Make ``attempt`` the current one of this thread (None: none)."""
    _current.attempt = attempt


def current() -> Attempt | None:
    return getattr(_current, "attempt", None)


def _bounded(timeout: float | None) -> tuple[float | None, Attempt | None]:
    attempt = current()
    if attempt is None:
        return timeout, None
    left = attempt.remaining()
    if left <= 0:
        attempt.expired = True
        return 0.0, attempt
    return (left if timeout is None or left < timeout else timeout), attempt


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounded, attempt = _bounded(timeout)
        if attempt is not None and attempt.expired:
            raise httpcore.ReadTimeout("the attempt's time limit passed")
        try:
            return self._inner.read(max_bytes, bounded)
        except httpcore.ReadTimeout:
            if attempt is not None and bounded != timeout:
                attempt.expired = True
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bounded, attempt = _bounded(timeout)
        if attempt is not None and attempt.expired:
            raise httpcore.WriteTimeout("the attempt's time limit passed")
        try:
            self._inner.write(buffer, bounded)
        except httpcore.WriteTimeout:
            if attempt is not None and bounded != timeout:
                attempt.expired = True
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> bool:
    """Bound the socket operations of ``client``'s own transports; False if they are not httpcore pools."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    done = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if pool is not None and isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)
            done = True
    return done
