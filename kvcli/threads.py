"""Worker threads that leave Ctrl-C and SIGTERM to the main thread.

Python runs signal handlers only in the main thread, but the kernel hands a process-directed signal to any thread
that does not block it. When it lands on a worker blocked in ``recv()`` (a request in flight), the main thread, itself
blocked waiting for those workers, is not woken: the handler runs only once the wait ends on its own (a timeout, the
request's answer), so a bulk operation's Ctrl-C could sit unheeded for tens of seconds, and a handler run after the
operation had put Python's own back made the process die by the signal instead of printing its summary and exiting
130. kvcli's worker threads therefore block SIGINT and SIGTERM (where the platform can), and the kernel delivers them
to the main thread, whose waits they interrupt at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


def leave_signals_to_main() -> None:
    """Block SIGINT and SIGTERM in the calling thread (a no-op where threads have no signal mask, e.g. Windows)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None and threading.current_thread() is not threading.main_thread():
        mask(signal.SIG_BLOCK, SIGNALS)


def worker_pool(max_workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads leave the signals to the main thread."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name, initializer=leave_signals_to_main)


def worker_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """A daemon thread (not started) that leaves the signals to the main thread."""

    def run() -> None:
        leave_signals_to_main()
        target()

    return threading.Thread(target=run, name=name, daemon=True)
