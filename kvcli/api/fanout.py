"""Many single-key requests at once, answers in input order, memory bounded whatever the number of keys.

Used where the API has no bulk read: listing with metadata over HTTP (``list_items`` describes each key) and the
CLI's ``--keys-file``. Threads, because the HTTP adapter's client is thread-safe and pooled; imported only by what
needs it (the pool, :mod:`kvcli.threads`, is not on the start-up path of other commands).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from kvcli.api.errors import KvcliError
from kvcli.threads import worker_pool

A = TypeVar("A")
R = TypeVar("R")

#: requests in flight by default when describing many keys over HTTP
DEFAULT_CONCURRENCY = 16
#: the highest concurrency accepted (more only queues in the connection pool, and looks like a flood to a server)
MAX_CONCURRENCY = 256


def ordered_map(
    fn: Callable[[A], R], args: Iterable[A], concurrency: int
) -> Iterator[tuple[A, R | KvcliError]]:
    """``(arg, fn(arg))`` for every arg, in the order of ``args``, with at most ``concurrency`` calls running.

    A :class:`KvcliError` raised by ``fn`` is returned in place of its result (the caller decides whether it is fatal);
    any other exception propagates when its turn comes. ``args`` is consumed lazily: at most ``2 * concurrency``
    args are taken ahead of the one being returned, so a million keys take the memory of a few dozen. Closing the
    iterator early cancels what has not started and waits only for the calls already running.
    """
    if concurrency <= 1:
        for arg in args:
            try:
                yield arg, fn(arg)
            except KvcliError as exc:
                yield arg, exc
        return
    from kvcli.threads import Future

    def call(arg: A) -> R | KvcliError:
        try:
            return fn(arg)
        except KvcliError as exc:
            return exc

    window: deque[tuple[A, Future[R | KvcliError]]] = deque()
    pool = worker_pool(concurrency, "kvcli-fanout")
    try:
        for arg in args:
            window.append((arg, pool.submit(call, arg)))
            if len(window) >= 2 * concurrency:
                done_arg, fut = window.popleft()
                yield done_arg, fut.result()
        while window:
            done_arg, fut = window.popleft()
            yield done_arg, fut.result()
    finally:
        for _, fut in window:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
