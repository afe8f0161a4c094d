"""Worker threads that leave Ctrl-C and SIGTERM to the main thread.

Python runs signal handlers only in the main thread, but the kernel hands a process-directed signal to any thread
that does not block it. When it lands on a worker blocked in ``recv()`` (a request in flight), the main thread, itself
blocked waiting for those workers, is not woken: the handler runs only once the wait ends on its own (a timeout, the
request's answer), so a bulk operation's Ctrl-C could sit unheeded for tens of seconds, and a handler run after the
operation had put Python's own back made the process die by the signal instead of printing its summary and exiting
130. kvcli's worker threads therefore block SIGINT and SIGTERM (where the platform can), and the kernel delivers them
to the main thread, whose waits they interrupt at once.

:class:`Pool` is the worker pool of kvcli's bulk operations: the part of ``concurrent.futures.ThreadPoolExecutor``
they use (``submit``, ``map``, ``shutdown``, ``with``), with :class:`Future` and :func:`wait` as there. It exists
because importing ``concurrent.futures`` loads ``logging`` and ``traceback`` (~6 ms of every bulk command's start-up,
before its first request). One condition variable per pool guards the queue and every future's state.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
FIRST_COMPLETED = "FIRST_COMPLETED"
ALL_COMPLETED = "ALL_COMPLETED"
_PENDING, _RUNNING, _CANCELLED, _FINISHED = range(4)

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


def leave_signals_to_main() -> None:
    """Block SIGINT and SIGTERM in the calling thread (a no-op where threads have no signal mask, e.g. Windows)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None and threading.current_thread() is not threading.main_thread():
        mask(signal.SIG_BLOCK, SIGNALS)


class CancelledError(Exception):
    """The result of a future cancelled before it ran."""


class Future(Generic[T]):
    """The outcome of a call submitted to a :class:`Pool` (as ``concurrent.futures.Future``: ``done``,
    ``cancelled``, ``cancel`` before it starts, ``result`` re-raising the call's exception)."""

    __slots__ = ("_cond", "_state", "_value", "_error")

    def __init__(self, cond: threading.Condition | None = None) -> None:
        self._cond = cond if cond is not None else threading.Condition()
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._state >= _CANCELLED

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def cancel(self) -> bool:
        """Cancel the call if it has not started; True when it is (now or already) cancelled."""
        with self._cond:
            if self._state == _PENDING:
                self._state = _CANCELLED
                self._cond.notify_all()
            return self._state == _CANCELLED

    def result(self, timeout: float | None = None) -> T:
        with self._cond:
            if not self._cond.wait_for(self.done, timeout):
                raise TimeoutError("the call has not finished")
        if self._state == _CANCELLED:
            raise CancelledError()
        if self._error is not None:
            raise self._error
        return self._value

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        with self._cond:
            if self._state != _PENDING:  # cancelled while queued
                return
            self._state = _RUNNING
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result, as concurrent.futures
            self.set_exception(exc)
        else:
            self.set_result(value)

    def set_result(self, value: T) -> None:
        self._finish(value, None)

    def set_exception(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, value: Any, error: BaseException | None) -> None:
        with self._cond:
            self._value, self._error, self._state = value, error, _FINISHED
            self._cond.notify_all()


def wait(
    futures: Iterable[Future[Any]], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> tuple[set[Future[Any]], set[Future[Any]]]:
    """(done, not done) once all (or, with FIRST_COMPLETED, any) of ``futures`` are done, or at ``timeout``.
    The futures must come from one pool. The wait ends at once on Ctrl-C in the main thread (KeyboardInterrupt)."""
    fs = set(futures)
    if not fs:
        return set(), set()
    cond = next(iter(fs))._cond
    if any(f._cond is not cond for f in fs):
        raise ValueError("wait() takes the futures of one pool")
    deadline = None if timeout is None else time.monotonic() + timeout
    with cond:
        while True:
            done = {f for f in fs if f.done()}
            if len(done) == len(fs) or (done and return_when == FIRST_COMPLETED):
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            cond.wait(left)
    return done, fs - done


class Pool:
    """Up to ``max_workers`` threads (made as work arrives) running submitted calls in order; the threads leave
    SIGINT and SIGTERM to the main thread and are daemons, so a process never waits at exit for a call abandoned
    after Ctrl-C."""

    def __init__(self, max_workers: int, name: str) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            fut: Future[T] = Future(self._cond)
            self._queue.append((fut, fn, args))
            # a thread more when the calls waiting outnumber the idle threads (some may not have woken up yet)
            if len(self._queue) > self._idle and len(self._threads) < self._max:
                t = worker_thread(self._work, f"{self._name}_{len(self._threads)}")
                self._threads.append(t)
                t.start()
            self._cond.notify_all()
        return fut

    def map(self, fn: Callable[..., T], items: Iterable[Any]) -> Iterator[T]:
        """The results of ``fn`` over ``items`` in order (all submitted now; leaving early cancels the rest)."""
        futures = [self.submit(fn, item) for item in items]

        def results() -> Iterator[T]:
            try:
                for fut in futures:
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                while self._queue:
                    fut, _, _ = self._queue.popleft()
                    if fut._state == _PENDING:
                        fut._state = _CANCELLED
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                t.join()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._queue and not self._closed:
                    self._cond.wait()
                self._idle -= 1
                if not self._queue:  # closed and nothing left
                    return
                fut, fn, args = self._queue.popleft()
            fut._run(fn, args)


def worker_pool(max_workers: int, name: str) -> Pool:
    """A thread pool whose threads leave the signals to the main thread."""
    return Pool(max_workers, name)


def worker_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """A daemon thread (not started) that leaves the signals to the main thread."""

    def run() -> None:
        leave_signals_to_main()
        target()

    return threading.Thread(target=run, name=name, daemon=True)
