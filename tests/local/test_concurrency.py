"""Several kvcli processes on one embedded database at the same time: every write succeeds, none says "locked".

Processes are real (``python -m kvcli`` subprocesses, or spawned interpreters released together by a barrier), since
SQLite's locking between processes is what is under test; threads in one process would not exercise it.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvcli.local.engine import DB_FILENAME, Engine
from tests.conftest import subprocess_env

ITEMS_PER_WORKER = 60


def _kvcli(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kvcli", *args],
        env=subprocess_env({"KVCLI_DATA_DIR": str(data_dir)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(procs: list[subprocess.Popen], timeout: float = 90) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout.decode(), stderr.decode()))
    return out


def _writer(data_dir: str, n: int, shared: bool, barrier, results) -> None:
    """One process: open the (maybe not yet created) database when released, create a store, write items."""
    try:
        barrier.wait(timeout=60)
        eng = Engine.in_dir(data_dir)
        sid = eng.create_store(f"p{n}").id
        gens = [eng.put_item(sid, f"k{i}", f"{n}:{i}".encode()) for i in range(ITEMS_PER_WORKER)]
        if shared:
            gens.append(eng.put_item(eng.find_store("shared").id, f"from-{n}", b"v"))
        eng.close()
        results.put((n, "ok", gens))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((n, f"{type(exc).__name__}: {exc}", []))


def _run_writers(data_dir: Path, workers: int, shared: bool = False) -> list[tuple[int, str, list[int]]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(data_dir), n, shared, barrier, results)) for n in range(workers)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return got


@pytest.mark.parametrize("workers", [2, 6])
def test_processes_released_together_on_a_fresh_database_all_succeed(tmp_path, workers):
    # the database file does not exist yet: the processes race to create it, switch it to WAL and migrate it
    data = tmp_path / "data"
    got = _run_writers(data, workers)
    failures = [(n, status) for n, status, _ in got if status != "ok"]
    assert failures == []
    eng = Engine.in_dir(data)
    try:
        stores = {s.name: s.id for s in eng.list_stores().items}
        assert set(stores) == {f"p{n}" for n in range(workers)}
        for n in range(workers):
            assert len(eng.list_keys(stores[f"p{n}"]).items) == ITEMS_PER_WORKER
            assert eng.get_item(stores[f"p{n}"], "k7").value == f"{n}:7".encode()
    finally:
        eng.close()
    gens = [g for _, _, gs in got for g in gs]
    assert len(set(gens)) == len(gens)  # generations are unique across processes


def test_processes_writing_to_the_same_store_at_once(tmp_path):
    data = tmp_path / "data"
    eng = Engine.in_dir(data)
    shared = eng.create_store("shared").id
    eng.close()
    got = _run_writers(data, 4, shared=True)
    assert [status for _, status, _ in got] == ["ok"] * 4
    eng = Engine.in_dir(data)
    try:
        assert eng.list_keys(shared).items == ["from-0", "from-1", "from-2", "from-3"]
    finally:
        eng.close()


def test_kvcli_commands_run_at_the_same_time_all_succeed(tmp_path):
    data = tmp_path / "data"
    procs = [_kvcli(data, "kv-store", "create", "--name", f"cli-{n}", "--json") for n in range(5)]
    results = _finish(procs)
    for code, stdout, stderr in results:
        assert code == 0, stderr
        assert "locked" not in stderr.lower()
        assert json.loads(stdout)["Name"].startswith("cli-")
    listing = _finish([_kvcli(data, "kv-store", "list", "--json")])[0]
    assert listing[0] == 0
    assert sorted(s["Name"] for s in json.loads(listing[1])["Data"]) == [f"cli-{n}" for n in range(5)]


def test_a_command_waits_for_another_processes_write_instead_of_failing(tmp_path):
    data = tmp_path / "data"
    Engine.in_dir(data).close()
    holder = sqlite3.connect(data / DB_FILENAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock…
    holder.execute("INSERT INTO meta(name, value) VALUES ('held', '1')")
    proc = _kvcli(data, "kv-store", "create", "--name", "waiting", "--json")
    try:
        time.sleep(1.5)  # …for longer than kvcli takes to start and reach the database
        assert proc.poll() is None, _finish([proc])
    finally:
        holder.execute("COMMIT")
        holder.close()
    code, stdout, stderr = _finish([proc])[0]
    assert code == 0, stderr
    assert json.loads(stdout)["Name"] == "waiting"
