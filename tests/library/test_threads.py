"""A connection may be shared between threads (docs/library.md, "Threads"): on both backends, threads writing,
reading, listing and appending through one KV all see a consistent store."""

from __future__ import annotations

import threading

import kvcli

THREADS = 8
PER_THREAD = 40


def test_one_connection_shared_by_threads(kv, store):
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    same = kv.store(store.id)  # another handle to the same store

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(PER_THREAD):
                key = f"t{n}/{i:03d}"
                (store if i % 2 else same)[key] = f"{n}:{i}"
                assert store[key] == f"{n}:{i}".encode()
                store.put("shared", b"x", mode="append")
            assert len(list(store.keys(prefix=f"t{n}/", page_size=7))) == PER_THREAD
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    assert len(list(store)) == THREADS * PER_THREAD + 1
    assert store["shared"] == b"x" * (THREADS * PER_THREAD)  # no append was lost
    assert store.clear() == THREADS * PER_THREAD + 1


def test_close_after_threads_used_the_connection(isolated):
    kv = kvcli.connect(data_dir=isolated["data"])
    store = kv.create_store("threads")
    threads = [threading.Thread(target=store.__setitem__, args=(f"k{n}", b"v")) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    kv.close()  # closes every thread's database connection
    engine = kv._api.engine  # type: ignore[attr-defined]
    assert engine._all_conns == []
    with kvcli.connect(data_dir=isolated["data"]) as again:
        assert sorted(again.store("threads")) == [f"k{n}" for n in range(4)]
