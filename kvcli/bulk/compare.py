"""What copy and diff share: two sorted key listings merged in one pass, ordered reads with bounded concurrency,
and the comparison of two items (value, metadata, remaining TTL).

Order
-----
Both backends list keys in ascending order: Fastly in byte-lexicographic order of the UTF-8 key (recorded), the
embedded engine by SQLite's binary collation of the same bytes. Python compares ``str`` by code point, which for
UTF-8 is the same order, so the two listings are merged like two sorted files and memory does not grow with the
number of keys. A listing that is not strictly ascending would make the merge wrong without saying so; it is
detected as it streams and stops the operation (a :class:`~kvcli.api.errors.KvcliError` naming the keys).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from kvcli.api.errors import Conflict, KvcliError, NotFound
from kvcli.api.models import Item
from kvcli.api.port import iter_keys
from kvcli.threads import Future, worker_pool

T = TypeVar("T")
R = TypeVar("R")

#: two expiry times closer than this are the same TTL: the HTTP extension header says whole seconds (rounded up),
#: and a copy's write lands a moment after its read
TTL_SLACK_SECONDS = 2.0


def listed(api, store_id: str, prefix: str | None = None, *, side: str = "") -> Iterator[str]:
    """Every key of a store (under ``prefix``), page by page, checked to be strictly ascending."""
    last: str | None = None
    for page in iter_keys(api, store_id, prefix=prefix or None):
        for key in page.items:
            if last is not None and key <= last:
                raise KvcliError(
                    f"the key listing of {side or 'a store'} is not in ascending order ({key!r} came after {last!r})",
                    "kvcli needs the backend's sorted listing to compare two stores; report this backend",
                )
            last = key
            yield key


def merge(a: Iterable[str], b: Iterable[str]) -> Iterator[tuple[str, bool, bool]]:
    """``(key, in_a, in_b)`` for every key of two ascending key streams, in ascending order."""
    ia, ib = iter(a), iter(b)
    ka = next(ia, None)
    kb = next(ib, None)
    while ka is not None or kb is not None:
        if kb is None or (ka is not None and ka < kb):
            yield ka, True, False  # type: ignore[misc]
            ka = next(ia, None)
        elif ka is None or kb < ka:
            yield kb, False, True
            kb = next(ib, None)
        else:
            yield ka, True, True
            ka = next(ia, None)
            kb = next(ib, None)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], concurrency: int,
                inline: Callable[[T], bool] | None = None) -> Iterator[R]:
    """``map(fn, items)`` with up to ``concurrency`` calls running, results in input order; at most a few times
    ``concurrency`` items are read ahead, so memory stays flat whatever the number of items. Closing the iterator
    (or an exception in the consumer) cancels what has not started. Items for which ``inline(item)`` is true are
    cheap (an embedded read): they run in this thread, in their turn, without a thread hop."""
    if concurrency <= 1:
        yield from map(fn, items)
        return
    window = concurrency * 4
    pool = worker_pool(concurrency, "kvcli-read")
    queue: deque[Future] = deque()
    try:
        for item in items:
            if inline is not None and inline(item):
                if not queue:
                    yield fn(item)
                    continue
                fut: Future = Future()
                try:
                    fut.set_result(fn(item))
                except Exception as exc:  # noqa: BLE001 - raised in its turn, as a pool call's would be
                    fut.set_exception(exc)
                queue.append(fut)
            else:
                queue.append(pool.submit(fn, item))
            while len(queue) >= window or (queue and queue[0].done()):
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
    finally:
        for fut in queue:
            fut.cancel()
        pool.shutdown(wait=True)


def is_embedded(api) -> bool:
    """Whether ``api`` declares itself in-process (the embedded engine): no request budget, one writer."""
    from kvcli.api.port import limits_of

    return limits_of(api).in_process


def read_many(api, store_id: str, keys: list[str], concurrency: int) -> list[Item | None]:
    """The items of ``keys`` (None where missing), in order: one read transaction on the embedded engine
    (``get_items``), else one request per key with up to ``concurrency`` in flight."""
    many = getattr(api, "get_items", None) if is_embedded(api) else None
    if many is not None:
        return many(store_id, keys)
    return list(ordered_map(lambda k: read_item(api, store_id, k), keys, concurrency))


def read_item(api, store_id: str, key: str) -> Item | None:
    """The item, or None when it does not exist (deleted or expired since it was listed)."""
    try:
        return api.get_item(store_id, key)
    except NotFound:
        return None


def exposes_expiry(api, store_id: str) -> bool:
    """Whether a backend says when items expire: the embedded engine and ``kvcli local serve`` do (over HTTP in
    kvcli's ``Kvcli-Expires-At`` extension header); real Fastly does not, so there an item without an expiry may
    still have a TTL. ``kvcli local serve`` is recognised by its answer to kvcli's store pre-check (the
    ``check_store_deletable`` probe, a read), which real Fastly ignores."""
    declared = getattr(api, "exposes_expiry", None)
    if isinstance(declared, bool):
        return declared
    if is_embedded(api):
        return True
    try:
        return bool(api.check_store_deletable(store_id))
    except Conflict:  # the server checked the store's links: it is kvcli's
        return True


def remaining_ttl(expires_at: datetime | None, now: float | None = None) -> float | None:
    """Seconds until ``expires_at`` (None: no expiry)."""
    if expires_at is None:
        return None
    return expires_at.timestamp() - (time.time() if now is None else now)


def differences(a: Item, b: Item, *, ttl: bool) -> list[str]:
    """What differs between two items of the same key: ``value``, ``metadata`` and (``ttl``: both sides expose
    expiry) ``ttl``, in that order; empty when they match."""
    what = []
    if a.value != b.value:
        what.append("value")
    if (a.metadata or "") != (b.metadata or ""):
        what.append("metadata")
    if ttl:
        ea, eb = a.expires_at, b.expires_at
        if (ea is None) != (eb is None) or (
                ea is not None and eb is not None and abs(ea.timestamp() - eb.timestamp()) > TTL_SLACK_SECONDS):
            what.append("ttl")
    return what
