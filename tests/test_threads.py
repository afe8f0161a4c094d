"""kvcli's worker threads leave SIGINT and SIGTERM to the main thread (kvcli/threads.py).

A Ctrl-C the kernel handed to a worker blocked on the network went unheeded until the main thread's wait ended by
itself (seen in a CI-like run: the second Ctrl-C of an import was handled 30 s late, after the import had restored
Python's handler, and the process died by the signal instead of exiting 130).
"""

from __future__ import annotations

import ast
import signal
import threading
from pathlib import Path

import pytest

import kvcli
from kvcli.threads import SIGNALS, worker_pool, worker_thread

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no per-thread signal masks here")


def _blocked_here() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def test_pool_and_thread_workers_block_the_signals_and_the_main_thread_does_not():
    with worker_pool(2, "t") as pool:
        seen = [pool.submit(_blocked_here).result() for _ in range(4)]
    assert all(set(SIGNALS) <= mask for mask in seen)
    got: list[set[int]] = []
    t = worker_thread(lambda: got.append(_blocked_here()), "t")
    t.start()
    t.join()
    assert set(SIGNALS) <= got[0]
    assert not set(SIGNALS) & _blocked_here()  # the caller's own mask is untouched


def test_a_bulk_import_sends_its_batches_on_threads_that_leave_the_signals_to_the_main_thread(tmp_path, monkeypatch,
                                                                                             isolated):
    """Through the real pipeline, over HTTP to a real `kvcli local serve`: every batch is sent from a thread with
    SIGINT and SIGTERM blocked."""
    from kvcli.api.http.adapter import HttpAdapter
    from tests.served import LocalServe

    masks: list[tuple[bool, set[int]]] = []
    real = HttpAdapter.put_batch

    def recording(self, *args, **kwargs):
        masks.append((threading.current_thread() is threading.main_thread(), _blocked_here()))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(HttpAdapter, "put_batch", recording)
    (tmp_path / "in.ndjson").write_text("".join(f'{{"key":"k{i:04d}","value":"dg=="}}\n' for i in range(2500)))
    served = LocalServe(tmp_path / "served", token="t")
    try:
        with kvcli.connect(endpoint=served.url, token="t") as kv:
            report = kv.create_store("s").import_file(tmp_path / "in.ndjson")
    finally:
        served.stop()
    assert report.written == 2500
    assert len(masks) >= 3 and not any(on_main for on_main, _ in masks)
    assert all(set(SIGNALS) <= mask for _, mask in masks)


def test_no_kvcli_module_starts_threads_except_through_kvcli_threads():
    root = Path(kvcli.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "threads.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.endswith(("ThreadPoolExecutor", "threading.Thread")) or name == "Thread":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    assert offenders == []


# ---------------------------------------------------------------- the pool (the part of concurrent.futures kvcli uses)
def test_pool_results_come_back_and_exceptions_are_raised_by_result():
    from kvcli.threads import Pool

    with Pool(3, "t") as pool:
        futures = [pool.submit(pow, 2, n) for n in range(20)]
        boom = pool.submit(int, "not a number")
        assert [f.result() for f in futures] == [2**n for n in range(20)]
        with pytest.raises(ValueError, match="invalid literal"):
            boom.result()
        assert boom.done() and not boom.cancelled()


def test_pool_runs_at_most_max_workers_calls_at_once():
    from kvcli.threads import Pool

    lock = threading.Lock()
    running, most = [0], [0]
    release = threading.Event()
    started = threading.Semaphore(0)

    def busy() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        started.release()
        release.wait()
        with lock:
            running[0] -= 1

    pool = Pool(2, "t")
    futures = [pool.submit(busy) for _ in range(6)]
    started.acquire()
    started.acquire()  # two are running; the others wait for a thread
    assert sum(f.done() for f in futures) == 0 and not any(f._state == 1 for f in futures[2:])
    release.set()
    pool.shutdown(wait=True)
    assert most[0] == 2 and all(f.done() for f in futures) and len(pool._threads) == 2


def test_pool_runs_max_workers_calls_at_once_when_they_all_wait_for_each_other():
    """Each call waits for the other two: with fewer than three threads the barrier would break (its timeout is only
    there so that a regression fails instead of hanging)."""
    from kvcli.threads import Pool

    for _ in range(20):
        barrier = threading.Barrier(3, timeout=30)
        with Pool(3, "t") as pool:
            futures = [pool.submit(barrier.wait) for _ in range(3)]
            assert sorted(f.result() for f in futures) == [0, 1, 2]


def test_an_idle_thread_does_not_stand_in_for_two_new_calls():
    """One thread idle, two calls that each wait for the other: the pool must start a second thread although one is
    idle (counting idle threads alone would leave both calls to the one thread, and the barrier would break)."""
    from kvcli.threads import Pool

    for _ in range(20):
        pool = Pool(2, "t")
        pool.submit(int).result()
        with pool._cond:
            pool._cond.wait_for(lambda p=pool: p._idle == 1)  # the first thread is back waiting for work
        barrier = threading.Barrier(2, timeout=30)
        futures = [pool.submit(barrier.wait) for _ in range(2)]
        assert sorted(f.result() for f in futures) == [0, 1]
        pool.shutdown()


def test_cancel_and_shutdown_cancel_only_what_has_not_started():
    from kvcli.threads import CancelledError, Pool

    gate, started = threading.Event(), threading.Event()

    def first() -> str:
        started.set()
        gate.wait()
        return "ran"

    pool = Pool(1, "t")
    running = pool.submit(first)
    started.wait()
    queued = [pool.submit(str, n) for n in range(3)]
    assert not running.cancel()  # already started
    assert queued[0].cancel() and queued[0].cancelled()
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    with pytest.raises(CancelledError):
        queued[1].result()
    gate.set()
    assert running.result() == "ran"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(str, 1)


def test_wait_first_completed_all_completed_and_timeout():
    from kvcli.threads import FIRST_COMPLETED, Future, Pool, wait

    gate = threading.Event()
    with Pool(2, "t") as pool:
        quick = pool.submit(str, "q")
        slow = pool.submit(gate.wait)
        done, not_done = wait([quick, slow], return_when=FIRST_COMPLETED)
        assert quick in done and slow in not_done
        done, not_done = wait([quick, slow], timeout=0.01)  # the slow one cannot finish: the gate is shut
        assert done == {quick} and not_done == {slow}
        gate.set()
        done, not_done = wait([quick, slow])
        assert done == {quick, slow} and not not_done
        assert wait([]) == (set(), set())
        with pytest.raises(ValueError, match="one pool"):
            wait([quick, Future()])


def test_map_keeps_input_order_and_leaving_early_cancels_the_rest():
    from kvcli.threads import Pool

    gate = threading.Event()

    def slow_first(n: int) -> int:
        if n == 0:
            gate.wait()
        return n * 10

    with Pool(2, "t") as pool:
        results = pool.map(slow_first, range(5))
        gate.set()
        assert list(results) == [0, 10, 20, 30, 40]
    ran: list[int] = []
    hold = threading.Event()

    def record(n: int) -> int:
        ran.append(n)
        if n == 1:
            hold.wait()
        return n

    pool = Pool(1, "t")
    results = pool.map(record, range(4))
    assert next(results) == 0
    results.close()  # the consumer leaves: what has not started is cancelled
    hold.set()
    pool.shutdown(wait=True)
    assert ran in ([0], [0, 1])  # 1 may have started before the close; 2 and 3 never run


def test_a_standalone_future_carries_a_result_or_an_exception():
    from kvcli.threads import Future

    ok: Future[int] = Future()
    ok.set_result(3)
    bad: Future[int] = Future()
    bad.set_exception(KeyError("k"))
    assert ok.done() and ok.result() == 3
    with pytest.raises(KeyError):
        bad.result()
    with pytest.raises(TimeoutError):
        Future().result(timeout=0.01)
