"""Ctrl-C (and SIGTERM) during a bulk operation, without losing track of what was written.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is running when SIGINT arrives: between a
batch's commit and the line that counts it, between submitting a batch to a worker and remembering that it was
submitted. Either way the summary would then miss a batch that was stored. An :class:`InterruptGate` turns the
signal into a request instead: while the gate is *closed* (the default) a signal only sets :attr:`pending`; the
pipeline opens the gate only where an interrupt costs nothing (waiting for input or for a batch in flight), and
raises ``KeyboardInterrupt`` itself at those points when a signal is pending. Every batch whose write was started is
therefore accounted for before the import stops.

:data:`NO_GATE` does nothing (the library default: ``KeyboardInterrupt`` behaves as Python's default); the CLI
installs a :class:`SignalGate` around an import.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class InterruptGate:
    """Where an interrupt may stop the pipeline. This base class never defers anything."""

    pending = False

    @contextmanager
    def open(self) -> Iterator[None]:
        """A stretch during which an interrupt may be raised at once (nothing is half-accounted there)."""
        yield

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if an interrupt is pending."""

    def acknowledge(self) -> None:
        """The pending interrupt is being handled: the next one may stop the handling."""


NO_GATE = InterruptGate()

#: set when an interrupted import stopped waiting for requests in flight: their worker threads are still blocked on
#: the network. The summary already names those batches, so the console entry point then exits at once instead of
#: joining the threads (which would wait for the requests' timeouts).
abandoned_threads = False


class SignalGate(InterruptGate):
    """Defers SIGINT and SIGTERM to the points where the pipeline opens the gate (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, on_signal: Callable[[], None] | None = None) -> None:
        self.pending = False
        self.signals = 0  # how many arrived
        #: called from the handler, e.g. to make a reader thread blocked on stdin give up
        self.on_signal = on_signal
        self._open = 0
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.signals += 1
        self.pending = True
        if self.on_signal is not None:
            self.on_signal()
        if self._open:
            raise KeyboardInterrupt

    def install(self) -> SignalGate:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals are only delivered to the main thread: nothing to defer
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # pragma: no cover - not the main interpreter
                pass
        return self

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def __enter__(self) -> SignalGate:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    @contextmanager
    def open(self) -> Iterator[None]:
        self.check()
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt

    def acknowledge(self) -> None:
        self.pending = False
