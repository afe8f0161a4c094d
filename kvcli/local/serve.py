"""Running the API server process: binding, uvicorn, clean shutdown. Prints nothing (the CLI does)."""

from __future__ import annotations

import ipaddress
import signal
import socket
from typing import Any

from kvcli.api.errors import UsageError


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
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def bind(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (port 0 picks a free one); a one-line error when that fails."""
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise UsageError(f"cannot resolve --host {host!r}: {exc}", "pass an IP address such as 127.0.0.1") from None
    family, _, proto, _, addr = infos[0]
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it a small
    # body written after its headers waits for the client's delayed ACK (about 40 ms per GET)
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)  # connections made as soon as the URL is printed wait in the backlog for uvicorn
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {url_for(host, port)}: {exc.strerror or exc}",
            "pick another --port, or --port 0 for a free one",
        ) from None
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    name = host.strip("[]")
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def run(app: Any, sock: socket.socket, *, access_log: bool = False) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM, then return normally (uvicorn shuts down gracefully).

    uvicorn re-raises the signal that stopped it once it has shut down; no-op handlers installed here receive that
    re-raise, so Ctrl-C and SIGTERM both end in a normal return (exit status 0) instead of a KeyboardInterrupt or a
    death by signal.
    """
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout carries only the URL
    config = uvicorn.Config(
        app,
        log_config=log_config,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
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
