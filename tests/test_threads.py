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
