"""Which requests ``kvcli local serve`` answers at all: the Host and Origin checks against DNS rebinding and
cross-origin pages (moved out of :mod:`kvcli.local.server`).
"""

from __future__ import annotations

from typing import Any

from kvcli.api import wire
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time


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
            if not (wire.is_loopback_host(name) or name in self.allowed):
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
        return (wire.is_loopback_host(name) or name in self.allowed) and port is not None and port == str(server_port)
