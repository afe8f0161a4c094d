"""Running the API server process: binding, uvicorn, clean shutdown. Prints nothing (the CLI does)."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from kvcli.api.errors import UsageError
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

#: file descriptors kept free of client connections (SQLite connections, the database, WAL and shm files per worker
#: thread, the listening socket, stdio)
FD_RESERVE = 160
#: errno values of accept() that mean "out of a resource", logged once per interval
#: connections over the limit kept while every connection is in a request (they get 503 from uvicorn)
OVERFLOW = 32
#: the listening socket's backlog
BACKLOG = 2048
RESOURCE_ERRNOS = frozenset({24, 23, 105, 12})  # EMFILE, ENFILE, ENOBUFS, ENOMEM


@dataclass(frozen=True)
class Limits:
    """What one client may hold of the server. Each comes from a ``KVCLI_SERVE_*`` variable (see docs/local-serve.md)
    so that it can be tuned, and tests can use short ones."""

    max_connections: int = 512  # open connections; over it, the longest-waiting idle one is closed
    header_timeout: float = 10.0  # seconds for a request's headers to arrive (from connect or the previous answer)
    keep_alive: float = 5.0  # seconds an idle keep-alive connection stays open
    read_timeout: float = 60.0  # seconds a request body may go without sending data (then 408)
    log_interval: float = 60.0  # seconds between two reports of the same resource problem
    max_header_bytes: int = 64 * 1024  # a request's headers

    ENV = {
        "max_connections": "KVCLI_SERVE_MAX_CONNECTIONS",
        "header_timeout": "KVCLI_SERVE_HEADER_TIMEOUT",
        "keep_alive": "KVCLI_SERVE_KEEP_ALIVE",
        "read_timeout": "KVCLI_SERVE_READ_TIMEOUT",
        "log_interval": "KVCLI_SERVE_LOG_INTERVAL",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Limits:
        """The limits, from the environment; the default connection limit stays below the open-file limit."""
        values: dict[str, Any] = {}
        for name, var in cls.ENV.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            kind = int if name == "max_connections" else float
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if not value > 0 or value != value or value == float("inf"):
                raise UsageError(
                    f"invalid {var}={raw!r}",
                    f"set it to a positive {'whole number' if kind is int else 'number of seconds'}, or unset it",
                )
            values[name] = value
        if "max_connections" not in values:
            values["max_connections"] = min(cls.max_connections, max(16, open_file_limit() - FD_RESERVE))
        return cls(**values)


def open_file_limit() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return 1024
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    name = host.strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def bind(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (port 0 picks a free one); a one-line error when that fails."""
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise UsageError(f"cannot resolve host {host!r}: {exc}", "use an IP address such as 127.0.0.1",
                         reason="host_unresolvable", facts={"host": host, "error": str(exc)}) from None
    family, _, proto, _, addr = infos[0]
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it a small
    # body written after its headers waits for the client's delayed ACK (about 40 ms per GET)
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)  # connections made as soon as the URL is printed wait in the backlog for uvicorn
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {url_for(host, port)}: {exc.strerror or exc}",
            "pick another port, or port 0 for a free one",
            reason="port_busy",
        ) from None
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    name = host.strip("[]")
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def http_implementation() -> type:
    """uvicorn's HTTP/1.1 protocol on httptools (a C parser: 1.25-2x the requests/s) when it can be imported, else
    on h11 (pure Python; e.g. where no httptools wheel exists)."""
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def event_loop(limits: Limits | None = None) -> str:
    """uvicorn's ``loop`` setting: uvloop (libuv) when it can be imported, else asyncio's own loop (e.g. Windows).

    Also asyncio's loop when the connection limit lets the server run out of file descriptors (a
    ``KVCLI_SERVE_MAX_CONNECTIONS`` above the open-file limit less FD_RESERVE): libuv then drops the connections it
    cannot accept without a word, where asyncio's failed accept() is reported (see :class:`ResourceReporter`)."""
    if limits is not None and limits.max_connections + FD_RESERVE > open_file_limit():
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


HEADERS_TOO_LARGE = "request headers are larger than {limit} bytes"


def guarded_protocol(limits: Limits, base: type | None = None) -> type:
    """uvicorn's HTTP protocol class with what uvicorn lacks: a deadline for each request's headers (from the
    connection's start, or from the end of the previous answer), and at ``limits.max_connections`` the
    longest-waiting connection that is not in a request is closed to make room, so that sockets which never send a
    request cannot lock real clients out. Headers over ``limits.max_header_bytes`` are refused with 431 and the
    connection closed (h11 has such a limit of its own; httptools has none)."""
    if base is None:
        base = http_implementation()
    count_head = base.__name__ != "H11Protocol"  # h11 refuses long headers itself (400)

    class Guarded(base):  # type: ignore[misc, valid-type]
        _kv_timer: Any = None
        _kv_waiting_since: float | None = None
        _kv_head_bytes = 0  # bytes received while waiting for a request's headers

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._kv_wait()
            self._kv_make_room()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._kv_timer is not None and self.cycle is not None and not self.cycle.response_complete:
                self._kv_stop_waiting()  # a request's headers are complete
            elif count_head and self._kv_waiting_since is not None and not self.transport.is_closing():
                self._kv_head_bytes += len(data)
                if self._kv_head_bytes > limits.max_header_bytes:
                    self._kv_refuse_head()

        def _kv_refuse_head(self) -> None:
            msg = HEADERS_TOO_LARGE.format(limit=limits.max_header_bytes).encode("ascii")
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"connection: close\r\ncontent-length: " + str(len(msg)).encode("ascii") + b"\r\n\r\n" + msg
            )
            self._kv_close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._kv_wait()  # for the next request's headers (pipelined ones have started already)

        def connection_lost(self, exc: Exception | None) -> None:
            self._kv_stop_waiting()
            super().connection_lost(exc)

        def _kv_wait(self) -> None:
            self._kv_stop_waiting()
            self._kv_head_bytes = 0
            self._kv_waiting_since = self.loop.time()
            self._kv_timer = self.loop.call_later(limits.header_timeout, self._kv_expired)

        def _kv_stop_waiting(self) -> None:
            if self._kv_timer is not None:
                self._kv_timer.cancel()
            self._kv_timer = None
            self._kv_waiting_since = None

        def _kv_expired(self) -> None:
            self._kv_timer = None
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._kv_close()

        def _kv_close(self) -> None:
            self._kv_stop_waiting()
            self.transport.close()

        def _kv_make_room(self) -> None:
            live = [c for c in self.connections if c.transport is not None and not c.transport.is_closing()]
            if len(live) <= limits.max_connections:
                return
            waiting = [c for c in live if c is not self and getattr(c, "_kv_waiting_since", None) is not None]
            if waiting:
                min(waiting, key=lambda c: c._kv_waiting_since)._kv_close()
            elif len(live) > limits.max_connections + OVERFLOW:
                self._kv_close()  # every other connection is in a request: no descriptor for this one

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


class ResourceReporter:
    """An asyncio exception handler that reports "out of file descriptors" (and the like) from accept() in one line
    per interval, instead of asyncio's traceback per failed accept; anything else goes to the default handler."""

    def __init__(self, limits: Limits, stream: Any = None, clock: Any = time.monotonic) -> None:
        self.limits = limits
        self.stream = stream
        self.clock = clock
        self.last: float | None = None
        self.suppressed = 0

    def __call__(self, loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS):
            loop.default_exception_handler(context)
            return
        now = self.clock()
        if self.last is not None and now - self.last < self.limits.log_interval:
            self.suppressed += 1
            return
        more = f"; {self.suppressed} more in the last {self.limits.log_interval:g} s" if self.suppressed else ""
        stream = self.stream or sys.stderr
        stream.write(
            f"kvcli local serve: cannot accept connections: {exc.strerror or exc}{more} (hint: raise the open-file "
            f"limit with ulimit -n, or lower KVCLI_SERVE_MAX_CONNECTIONS (now {self.limits.max_connections}))\n"
        )
        stream.flush()
        self.last, self.suppressed = now, 0


def run(app: Any, sock: socket.socket, *, access_log: bool = False, limits: Limits | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM, then return normally (uvicorn shuts down gracefully).

    uvicorn re-raises the signal that stopped it once it has shut down; no-op handlers installed here receive that
    re-raise, so Ctrl-C and SIGTERM both end in a normal return (exit status 0) instead of a KeyboardInterrupt or a
    death by signal.
    """
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    limits = limits or Limits.from_env()
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout carries only the URL
    config = uvicorn.Config(
        app,
        log_config=log_config,
        # "Exceeded concurrency limit" and "Invalid HTTP request" warnings are one line per request: not at default
        log_level="info" if access_log else "error",
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
        loop=event_loop(limits),
        http=guarded_protocol(limits),
        # requests over it get 503; connections are shed first, and closed ones count until they are gone
        limit_concurrency=limits.max_connections + OVERFLOW,
        timeout_keep_alive=limits.keep_alive,  # type: ignore[arg-type]  # an int in the signature; used as a delay
        backlog=BACKLOG,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )
    reporter = ResourceReporter(limits)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            import asyncio

            asyncio.get_running_loop().set_exception_handler(reporter)
            await super().startup(sockets=sockets)

    server = Server(config)
    stopped: list[int] = []

    def note(signum: int, frame: Any) -> None:
        stopped.append(signum)
        server.should_exit = True  # a signal before uvicorn took over its handlers still stops it

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
