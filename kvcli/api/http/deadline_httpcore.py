"""The attempt's time limit (:mod:`kvcli.api.http.deadline`) on an ``httpx.Client``'s sockets.

:func:`install` wraps the network backend of the client's connection pools, so that each socket read or write of the
calling thread waits no longer than what is left of that thread's current attempt (a pooled connection serves one
request at a time, in the thread that sent it).
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

from kvcli.api.http.deadline import bounded as _bounded


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
