"""kvcli.copy() and kvcli.diff(): embedded → `kvcli local serve` → embedded round-trips exactly (values, metadata,
TTLs), a second copy writes nothing, diff reports exactly what was changed, added and removed, dry runs write
nothing, and --delete removes only the destination's extra keys."""

from __future__ import annotations

import time

import pytest

import kvcli
from tests.served import LocalServe

N = 2_000


def value(i: int) -> bytes:
    return f"value-{i}-".encode() + bytes([i % 256]) * (i % 50)


def fill(store: kvcli.Store, n: int = N) -> dict[str, tuple[bytes, str, int | None]]:
    """n keys, a third with metadata, every seventh with a TTL; written through the embedded engine directly."""
    from kvcli.api.models import BatchEntry

    want = {}
    entries = []
    for i in range(n):
        meta = f"m{i}" if i % 3 == 0 else ""
        ttl = 3600 + i if i % 7 == 0 else None
        entries.append(BatchEntry(key=f"k/{i:05d}", value=value(i), metadata=meta or None, ttl=ttl))
        want[f"k/{i:05d}"] = (value(i), meta, ttl)
    for start in range(0, n, 1000):
        store.kv.api.put_batch(store.id, entries[start:start + 1000])
    return want


def snapshot(store: kvcli.Store) -> dict[str, tuple[bytes, str, float | None]]:
    out = {}
    for key in store.keys():
        item = store.get(key)
        out[key] = (item.value, item.metadata, item.expires_at.timestamp() if item.expires_at else None)
    return out


def same(a: dict, b: dict, slack: float = 2.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        va, ma, ea = a[k]
        vb, mb, eb = b[k]
        assert (va, ma) == (vb, mb), k
        assert (ea is None) == (eb is None), k
        if ea is not None:
            assert abs(ea - eb) <= slack, (k, ea, eb)


@pytest.fixture
def served(tmp_path):
    data = tmp_path / "served"
    data.mkdir()
    serve = LocalServe(data)
    try:
        yield serve
    finally:
        serve.stop()


@pytest.fixture
def three(tmp_path, served):
    a = kvcli.connect(data_dir=tmp_path / "a", env={})
    h = kvcli.connect(endpoint=served.url, token="t", env={})
    c = kvcli.connect(data_dir=tmp_path / "c", env={})
    try:
        yield a, h, c
    finally:
        for kv in (a, h, c):
            kv.close()


def test_copy_round_trips_through_local_serve_exactly_and_a_second_copy_writes_nothing(three, served):
    a, h, c = three
    src = a.create_store("photos", location="EU")
    want = fill(src)
    original = snapshot(src)
    assert sum(1 for e in original.values() if e[2] is not None) == len(range(0, N, 7))

    r1 = kvcli.copy(src, (h, "photos"), create=True)
    assert r1.created_store and r1.written == N and r1.failed == 0
    assert r1.ttl_carried == len(range(0, N, 7)) and r1.ttl_unknown == 0
    mid = h.store("photos")
    with kvcli.connect(data_dir=served.data_dir, env={}) as behind:  # the API does not say a store's location
        assert behind.store("photos").location == "EU"
    r2 = kvcli.copy(mid, (c, "photos"), create=True)
    assert r2.written == N
    back = c.store("photos")
    same(original, snapshot(mid))
    same(original, snapshot(back))
    assert {k: (v[0], v[1]) for k, v in snapshot(back).items()} == {k: (v, m) for k, (v, m, _t) in want.items()}

    again = kvcli.copy(src, mid)
    assert again.written == 0 and again.write_requests == 0 and again.plan.unchanged == N
    again = kvcli.copy(mid, back)
    assert again.written == 0 and again.plan.unchanged == N
    d = kvcli.diff(src, back)
    assert list(d) == [] and d.identical and d.counts.same == N and d.counts.ttl_compared


def test_diff_shows_exactly_the_changes_additions_and_removals(three):
    a, h, _c = three
    src = a.create_store("s")
    fill(src, 300)
    dst = h.create_store("d")
    kvcli.copy(src, dst)
    assert kvcli.diff(src, dst).identical
    dst.put("k/00010", b"changed")  # value
    dst.put("k/00011", value(11), metadata="other")  # metadata only
    item = src.get("k/00014")  # has a TTL (14 % 7 == 0): rewritten without one
    dst.put("k/00014", item.value, metadata=item.metadata or None)
    dst.put("zz-new", b"only here")
    src.put("aa-new", b"only in from")
    dst.delete("k/00020")
    diffs = {x.key: (x.status, x.what) for x in kvcli.diff(src, dst)}
    assert diffs == {
        "aa-new": ("only_in_from", ()),
        "k/00010": ("differs", ("value",)),
        "k/00011": ("differs", ("metadata",)),
        "k/00014": ("differs", ("ttl",)),
        "k/00020": ("only_in_from", ()),
        "zz-new": ("only_in_to", ()),
    }
    keys_only = kvcli.diff(src, dst, keys_only=True)
    assert {x.key: x.status for x in keys_only} == {"aa-new": "only_in_from", "k/00020": "only_in_from",
                                                     "zz-new": "only_in_to"}
    assert keys_only.counts.only_in_from == 2 and keys_only.counts.only_in_to == 1
    assert {x.key for x in kvcli.diff(src, dst, prefix="k/0001")} == {"k/00010", "k/00011", "k/00014"}


def test_dry_run_writes_nothing_and_counts_the_plan(three):
    a, h, _c = three
    src = a.create_store("s")
    fill(src, 2_500)
    plan = kvcli.copy(src, (h, "new"), create=True, dry_run=True)
    assert plan.plan.create == 2_500 and plan.written == 0 and plan.write_requests == 3  # 1,000 per batch
    with pytest.raises(kvcli.NotFound):
        h.store("new")
    dst = h.create_store("d")
    kvcli.copy(src, dst, prefix="k/01")  # k/01000 … k/01999
    dst.put("k/01000", b"changed")
    for i in range(5):
        dst.put(f"extra/{i}", b"x")
    before = snapshot(dst)
    plan = kvcli.copy(src, dst, delete=True, dry_run=True)
    assert (plan.plan.create, plan.plan.update, plan.plan.unchanged, plan.plan.delete) == (1_500, 1, 999, 5)
    assert plan.plan.update_keys == ["k/01000"] and plan.plan.delete_keys == [f"extra/{i}" for i in range(5)]
    assert plan.delete_requests == 5 and plan.write_requests == 2  # 1,501 keys in batches of 1,000
    assert snapshot(dst) == before
    real = kvcli.copy(src, dst, delete=True)
    assert (real.written, real.deleted, real.plan.unchanged) == (1_501, 5, 999)
    assert kvcli.diff(src, dst).identical


def test_delete_keeps_keys_outside_the_prefix(three):
    a, h, _c = three
    src = a.create_store("s")
    src.put("p/1", b"1")
    dst = h.create_store("d")
    dst.put("p/2", b"2")
    dst.put("q/1", b"keep")
    report = kvcli.copy(src, dst, prefix="p/", delete=True)
    assert report.written == 1 and report.deleted == 1
    assert sorted(dst) == ["p/1", "q/1"]


def test_ttls_are_carried_as_remaining_time(three):
    a, h, _c = three
    src = a.create_store("s")
    src.put("short", b"v", ttl=120)
    dst = h.create_store("d")
    kvcli.copy(src, dst)
    left = dst.get("short").expires_at.timestamp() - time.time()
    assert 115 <= left <= 122


def test_copy_refuses_the_same_store_and_a_missing_destination(three):
    a, h, _c = three
    src = a.create_store("s")
    with pytest.raises(kvcli.InvalidInput):
        kvcli.copy(src, src)
    with pytest.raises(kvcli.NotFound) as info:
        kvcli.copy(src, (h, "nope"))
    assert "create=True" in (info.value.hint or "")
