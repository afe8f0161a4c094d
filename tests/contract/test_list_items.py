"""``list_items``: a page of keys with their describe fields, the same on every adapter (see conftest).

The embedded engine reads a page in one query; over HTTP the default implementation lists keys and describes them
with bounded concurrency. Both must give what ``describe_item`` gives, page by page with ``list_keys``'s cursors.
"""

from __future__ import annotations

import itertools
import threading

import pytest

from kvcli.api.errors import AuthError, NotFound
from kvcli.api.fanout import ordered_map
from kvcli.api.models import BatchEntry
from kvcli.api.port import iter_item_pages, iter_keys, list_items_by_describe


def fill(api, store_id: str, n: int, prefix: str = "k/") -> list[str]:
    keys = [f"{prefix}{i:04d}" for i in range(n)]
    entries = [BatchEntry(key=k, value=b"x" * (i % 7), metadata=f"m{i}" if i % 2 else None) for i, k in enumerate(keys)]
    assert not api.put_batch(store_id, entries).errors
    return keys


def test_list_items_gives_what_describe_gives_with_list_keys_cursors(api, store):
    keys = fill(api, store.id, 25)
    api.put_item(store.id, "k/ttl", b"abc", metadata="with ttl", ttl=3600)
    keys.append("k/ttl")
    api.put_item(store.id, "other", b"not under the prefix")
    pages = list(iter_item_pages(api, store.id, prefix="k/", page_size=10))
    key_pages = list(iter_keys(api, store.id, prefix="k/", page_size=10))
    assert [[i.key for i in p.items] for p in pages] == [p.items for p in key_pages]
    assert [p.next_cursor for p in pages] == [p.next_cursor for p in key_pages]
    got = [i for p in pages for i in p.items]
    assert [i.key for i in got] == sorted(keys)
    for info in got:
        assert info == api.describe_item(store.id, info.key)
    by_key = {i.key: i for i in got}
    assert by_key["k/0001"].metadata == "m1" and by_key["k/0002"].metadata == ""
    assert by_key["k/0006"].size == 6
    # both adapters expose expiry (the HTTP one because kvcli local serve sends it; real Fastly does not)
    assert by_key["k/ttl"].expires_at is not None and by_key["k/0001"].expires_at is None


def test_list_items_of_a_missing_store_is_not_found(api):
    with pytest.raises(NotFound):
        api.list_items("nosuchstore0000000000000")


class Racing:
    """An adapter whose listing is followed at once by deleting some of the listed keys (a concurrent deleter)."""

    def __init__(self, api, gone: set[str]) -> None:
        self.api = api
        self.gone = gone

    def list_keys(self, store_id, **kw):
        page = self.api.list_keys(store_id, **kw)
        for key in self.gone & set(page.items):
            self.api.delete_item(store_id, key)
        return page

    def describe_item(self, store_id, key):
        return self.api.describe_item(store_id, key)


def test_keys_deleted_between_list_and_describe_are_skipped(api, store):
    keys = fill(api, store.id, 12)
    gone = {keys[0], keys[5], keys[11]}
    page = list_items_by_describe(Racing(api, gone), store.id, concurrency=4)
    assert [i.key for i in page.items] == [k for k in keys if k not in gone]


class Gated:
    """describe_item waits at a barrier of ``n`` callers and counts how many run at once."""

    def __init__(self, api, n: int, fail_on: str | None = None) -> None:
        self.api = api
        self.barrier = threading.Barrier(n, timeout=60)  # only reached on failure: fewer than n calls ever overlap
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.fail_on = fail_on

    def list_keys(self, store_id, **kw):
        return self.api.list_keys(store_id, **kw)

    def describe_item(self, store_id, key):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:  # let go by the failing call (below): carry on alone
                pass
            if key == self.fail_on:
                self.barrier.abort()  # a caller still waiting for a partner is let go at once, not after 60 s
                raise AuthError("token refused", status=401)
            return self.api.describe_item(store_id, key)
        finally:
            with self.lock:
                self.running -= 1


def test_the_default_describes_exactly_concurrency_keys_at_once(api, store):
    keys = fill(api, store.id, 24)
    gated = Gated(api, 4)
    page = list_items_by_describe(gated, store.id, concurrency=4)
    assert [i.key for i in page.items] == keys
    assert gated.peak == 4  # the barrier of 4 passed (4 at once), and never more than 4 ran


def test_an_error_other_than_a_vanished_key_is_raised(api, store):
    keys = fill(api, store.id, 8)
    with pytest.raises(AuthError):
        list_items_by_describe(Gated(api, 2, fail_on=keys[3]), store.id, concurrency=2)


def test_ordered_map_reads_its_input_lazily_and_keeps_order():
    taken = []

    def source():
        for i in itertools.count():
            taken.append(i)
            yield i

    results = ordered_map(lambda i: i * 2, source(), concurrency=8)
    first = [next(results) for _ in range(5)]
    assert first == [(i, i * 2) for i in range(5)]
    assert len(taken) <= 5 + 2 * 8  # a bounded window ahead, never the whole (here endless) input
    results.close()


def test_list_items_on_the_engine_is_one_query_per_page(tmp_path):
    from kvcli.api.local import LocalAdapter
    from kvcli.local.engine import Engine

    api = LocalAdapter(Engine(tmp_path / "q.db"))
    try:
        sid = api.create_store("q").id
        fill(api, sid, 30)
        conn = api.engine.conn
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        page = api.list_items(sid, limit=20)
        conn.set_trace_callback(None)
        assert len(page.items) == 20 and page.next_cursor
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        item_reads = [s for s in selects if "FROM items" in s]
        assert len(item_reads) == 1, statements
    finally:
        api.close()
