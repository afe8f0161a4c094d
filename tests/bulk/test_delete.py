"""kvcli.bulk.delete: exact accounting, max-errors, listing failures, bounded concurrency, no deadlock."""

from __future__ import annotations

import threading
import time

import pytest

from kvcli.api.errors import ServerError, TransportError, UsageError
from kvcli.api.local import LocalAdapter
from kvcli.api.models import BatchEntry
from kvcli.api.port import iter_keys
from kvcli.bulk.delete import CHUNK, check_limits, delete_keys


class FailingApi:
    """Only the port methods bulk deletion needs, over a real adapter, failing the keys ``fail`` picks.

    It has no ``delete_many``, so delete_keys takes the concurrent per-key path (the one the HTTP adapter gets).
    """

    def __init__(self, inner, fail=lambda key: False, delay: float = 0.0) -> None:
        self.inner = inner
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.attempted: list[str] = []

    def list_keys(self, store_id, prefix=None, cursor=None, limit=None, consistency="strong"):
        return self.inner.list_keys(store_id, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)

    def delete_item(self, store_id, key, *, force=False, if_generation_match=None):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.attempted.append(key)
        try:
            if self.delay:
                time.sleep(self.delay)
            if self.fail(key):
                raise ServerError(f"injected failure for {key}", status=500)
            self.inner.delete_item(store_id, key, force=force, if_generation_match=if_generation_match)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def local(isolated):
    adapter = LocalAdapter.open(isolated["data"])
    yield adapter
    adapter.close()


def fill(api, n: int, prefix: str = "k") -> tuple[str, list[str]]:
    sid = api.create_store(f"bulk-{prefix}-{n}").id
    keys = [f"{prefix}{i:05d}" for i in range(n)]
    for i in range(0, n, 1000):
        api.put_batch(sid, [BatchEntry(key=k, value=b"v") for k in keys[i : i + 1000]])
    return sid, keys


def remaining(api, sid: str) -> list[str]:
    return [k for page in iter_keys(api, sid) for k in page.items]


def listing(api, sid: str, prefix: str | None = None):
    """Lazily listed keys, in pages of 200 so that a few hundred keys already span several pages."""
    return (k for page in iter_keys(api, sid, prefix=prefix, page_size=200) for k in page.items)


def test_deletes_everything_on_the_per_key_path(local):
    sid, keys = fill(local, 500)
    api = FailingApi(local)
    report = delete_keys(api, sid, listing(api, sid), concurrency=8, max_errors=5)
    assert (report.deleted, report.failed, report.errors, report.ok) == (500, 0, [], True)
    assert sorted(api.attempted) == keys
    assert remaining(local, sid) == []


def test_deletes_everything_on_the_engine_path(local):
    sid, _keys = fill(local, 1300)
    assert callable(getattr(local, "delete_many", None))
    report = delete_keys(local, sid, listing(local, sid), concurrency=4, max_errors=5)
    assert (report.deleted, report.failed, report.ok) == (1300, 0, True)
    assert remaining(local, sid) == []


def test_only_the_prefix_is_deleted(local):
    sid, _ = fill(local, 300, "a/")
    for i in range(200):
        local.put_item(sid, f"b/{i}", b"")
    api = FailingApi(local)
    report = delete_keys(api, sid, listing(api, sid, "a/"), concurrency=4)
    assert report.deleted == 300 and report.ok
    assert len(remaining(local, sid)) == 200
    assert all(k.startswith("b/") for k in remaining(local, sid))


def test_failures_are_counted_exactly_and_never_as_deleted(local):
    sid, keys = fill(local, 450)
    bad = {k for i, k in enumerate(keys) if i % 9 == 0}  # 50 failures
    api = FailingApi(local, fail=lambda k: k in bad)
    report = delete_keys(api, sid, listing(api, sid), concurrency=16, max_errors=1000)
    assert report.failed == len(bad) == 50
    assert report.deleted == 400
    assert not report.ok and not report.stopped_early
    assert {k for k, _ in report.errors} == bad
    assert all("injected failure" in msg for _, msg in report.errors)
    assert set(remaining(local, sid)) == bad


@pytest.mark.parametrize("concurrency", [1, 4, 50])
def test_max_errors_stops_cleanly_and_reports_what_remains(local, concurrency):
    sid, keys = fill(local, 400)
    api = FailingApi(local, fail=lambda k: k.endswith("3"))  # every tenth key fails
    report = delete_keys(api, sid, listing(api, sid), concurrency=concurrency, max_errors=5)
    assert report.stopped_early and not report.ok
    assert report.failed >= 5
    assert len(report.errors) == 5  # the kept errors are capped at max_errors
    left = remaining(local, sid)
    # exact accounting: every key is either deleted, failed (still there), or never attempted (still there)
    assert report.deleted + len(left) == len(keys)
    assert report.deleted == len(set(api.attempted)) - report.failed
    assert len(left) > report.failed  # it stopped: keys were left unattempted
    if concurrency == 1:
        # k00003, k00013, … k00043: the fifth failure is the 44th key; at most one more was already in flight
        assert report.failed == 5 and len(api.attempted) in (44, 45)


def test_max_errors_one_with_concurrency_one_does_not_deadlock(local):
    """The official CLI hangs here (one worker quits, the producer blocks on a full channel of 1000)."""
    sid, _ = fill(local, 2500)
    api = FailingApi(local, fail=lambda k: True)
    started = time.monotonic()
    report = delete_keys(api, sid, listing(api, sid), concurrency=1, max_errors=1)
    assert time.monotonic() - started < 10
    assert (report.deleted, report.failed, report.stopped_early) == (0, 1, True)
    assert len(remaining(local, sid)) == 2500


def test_engine_path_max_errors_and_failed_chunk(local):
    sid, keys = fill(local, CHUNK * 3)

    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        def list_keys(self, *a, **kw):
            return local.list_keys(*a, **kw)

        def delete_many(self, store_id, chunk):
            self.calls += 1
            if self.calls == 2:
                raise ServerError("disk full")
            return local.delete_many(store_id, chunk)

    flaky = Flaky()
    report = delete_keys(flaky, sid, listing(local, sid), max_errors=CHUNK * 10)
    assert report.deleted == CHUNK * 2 and report.failed == CHUNK
    assert {k for k, _ in report.errors} == set(keys[CHUNK : 2 * CHUNK])
    assert remaining(local, sid) == keys[CHUNK : 2 * CHUNK]

    report = delete_keys(Flaky(), sid, listing(local, sid), max_errors=3)  # the retry: one chunk, first call
    assert report.ok and report.deleted == CHUNK
    assert remaining(local, sid) == []


def test_engine_path_stops_at_max_errors(local):
    sid, keys = fill(local, CHUNK * 3)

    class AlwaysFails:
        def delete_many(self, store_id, chunk):
            raise ServerError("nope")

    report = delete_keys(AlwaysFails(), sid, listing(local, sid), max_errors=1)
    assert report.failed == CHUNK and report.deleted == 0 and report.stopped_early
    assert len(report.errors) == 1
    assert len(remaining(local, sid)) == len(keys)


@pytest.mark.parametrize("exc", [TransportError("connection reset"), ValueError("bad page")])
@pytest.mark.parametrize("engine_path", [False, True])
def test_listing_failure_is_reported_not_ignored(local, exc, engine_path):
    sid, keys = fill(local, 400)

    def broken_listing():
        yield from keys[:250]
        raise exc

    api = local if engine_path else FailingApi(local)
    report = delete_keys(api, sid, broken_listing(), concurrency=4)
    assert report.deleted == 250
    assert report.list_error and str(exc) in report.list_error
    assert not report.ok
    assert report.to_json()["list_error"] == report.list_error
    assert remaining(local, sid) == keys[250:]


def test_concurrency_is_bounded_and_the_listing_is_consumed_lazily(local):
    sid, keys = fill(local, 200)
    api = FailingApi(local, delay=0.002)
    pulled = [0]
    first_delete_at: list[int] = []

    def counting():
        for k in listing(api, sid):
            pulled[0] += 1
            yield k

    original = api.delete_item

    def spy(*a, **kw):
        if not first_delete_at:
            first_delete_at.append(pulled[0])
        return original(*a, **kw)

    api.delete_item = spy
    report = delete_keys(api, sid, counting(), concurrency=5)
    assert report.deleted == 200
    assert 1 < api.max_in_flight <= 5
    assert first_delete_at[0] <= 2 * 5 + 1  # keys are not all read before deleting starts


def test_progress_is_reported_with_consistent_counts(local):
    sid, _ = fill(local, 300)
    api = FailingApi(local, fail=lambda k: k.endswith("7"))
    seen: list[tuple[int, int]] = []
    report = delete_keys(
        api, sid, listing(api, sid), concurrency=8, max_errors=1000,
        on_progress=lambda r: seen.append((r.deleted, r.failed)),
    )
    assert len(seen) == 300
    assert seen[-1] == (report.deleted, report.failed) == (270, 30)
    assert [d + f for d, f in seen] == list(range(1, 301))


def test_report_json():
    from kvcli.bulk.delete import DeleteReport

    r = DeleteReport(deleted=3, failed=1, errors=[("k", "boom")], stopped_early=True)
    assert r.to_json() == {
        "deleted": 3, "failed": 1, "complete": False, "stopped_early": True, "list_error": None,
        "errors": [{"key": "k", "error": "boom"}],
    }


@pytest.mark.parametrize(("concurrency", "max_errors"), [(0, 1), (1, 0), (-1, 5)])
def test_limits_below_one_are_usage_errors(concurrency, max_errors):
    with pytest.raises(UsageError):
        check_limits(concurrency, max_errors)
