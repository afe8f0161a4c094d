"""An attempt's time limit, enforced on every network read and write.

httpx's timeouts apply to each read or write on its own, so a server that sends one byte every few seconds never
trips them, while its headers (up to httpcore's 100 KiB) or its body trickle in for days. :class:`Attempt` is the
limit of one attempt: ``deadline`` seconds, plus one second per ``min_rate`` bytes uploaded, plus (for a value's
body) one second per ``min_rate`` bytes received, so a large transfer that keeps moving gets the time it needs.

Sessions enforce it on each socket operation: :mod:`kvcli.api.http.deadline_httpcore` wraps the network backend of
an ``httpx.Client``'s pools, :mod:`kvcli.api.http.light` bounds its own socket's timeouts with :func:`bounded` (each
socket read or write of the calling thread waits no longer than what is left of that thread's current attempt).
The body reader checks the same attempt as data arrives, so the limit also holds for transports without sockets
(``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


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


def bounded(timeout: float | None) -> tuple[float | None, Attempt | None]:
    attempt = current()
    if attempt is None:
        return timeout, None
    left = attempt.remaining()
    if left <= 0:
        attempt.expired = True
        return 0.0, attempt
    return (left if timeout is None or left < timeout else timeout), attempt
