"""`local serve`'s batch writer process (issue 14, the file import): while batch requests overlap, their chunks are
written by a child process, exactly as the engine writes them itself; a lone request is written in-process; a
child that fails hands the work back without losing a chunk."""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import ExitStack, contextmanager

import pytest

from kvcli.api.errors import NotFound
from kvcli.api.models import BatchEntry
from kvcli.local import batch_writer, batch_writer_child
from kvcli.local.engine import Engine
from tests.local.test_engine_batch import ENTRIES, ROWS

NOW = 1_700_000_000.123456


@contextmanager
def _requests(engine: Engine, n: int):
    """``n`` batch requests in progress, as the server brackets them."""
    with ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(engine.batch_request())
        yield


def _counting_writes(engine: Engine) -> list[int]:
    """Counts the engine's in-process write transactions."""
    calls: list[int] = []
    original = engine.write

    def write():
        calls.append(1)
        return original()

    engine.write = write  # type: ignore[method-assign]
    return calls


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "kvcli.db", clock=lambda: NOW, batch_writer=True)
    yield eng
    eng.close()


def _rows(engine: Engine) -> list[tuple]:
    return [tuple(r) for r in engine.conn.execute(ROWS)]


def test_overlapping_batches_are_written_by_the_child_exactly_as_in_process(engine, tmp_path):
    sid = engine.create_store("s").id
    in_process = _counting_writes(engine)
    with _requests(engine, 2):
        result = engine.put_batch(sid, ENTRIES)
    assert result.written == len(ENTRIES) and result.errors == []
    assert in_process == []  # nothing was written in this process
    assert engine.batch_writer is not None and engine.batch_writer._proc is not None

    alone = Engine(tmp_path / "alone.db", clock=lambda: NOW)
    try:
        alone_sid = alone.create_store("s").id
        alone.put_batch(alone_sid, ENTRIES)
        # the same rows, generations and times included (the child runs on the parent's clock)
        child_rows = [r[:2] + (r[2] - _first_generation(engine),) + r[3:] for r in _rows(engine)]
        alone_rows = [r[:2] + (r[2] - _first_generation(alone),) + r[3:] for r in _rows(alone)]
        assert child_rows == alone_rows
        assert {r[4] for r in _rows(engine)} == {int(NOW * 1_000_000)}
    finally:
        alone.close()


def _first_generation(engine: Engine) -> int:
    return engine.conn.execute("SELECT min(generation) FROM items").fetchone()[0]


def test_a_lone_batch_request_is_written_in_process(engine):
    sid = engine.create_store("s").id
    in_process = _counting_writes(engine)
    with _requests(engine, 1):
        assert engine.put_batch(sid, ENTRIES).written == len(ENTRIES)
    assert in_process == [1]
    assert engine.get_item(sid, "plain").value == b"value"


def test_a_store_that_does_not_exist_is_refused_as_in_process(engine):
    engine.create_store("s")
    with _requests(engine, 2), pytest.raises(NotFound) as raised:
        engine.put_batch("no-such-store", ENTRIES)
    assert "no-such-store" in raised.value.message and raised.value.hint
    assert engine.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0


def test_a_chunk_for_a_missing_store_fails_alone_and_the_next_is_written(engine):
    sid = engine.create_store("s").id
    entries = [BatchEntry(f"k{i}", b"v%d" % i) for i in range(3)]
    from kvcli.local.engine_batch import prepare_rows

    prepared = prepare_rows(engine.conn, entries)
    assert prepared is not None
    group = [batch_writer._Chunk(sid, 3, NOW, prepared), batch_writer._Chunk("gone", 3, NOW, prepared)]
    sent = io.BytesIO(b"".join(batch_writer._request_bytes(chunk) for chunk in group))
    out = io.BytesIO()
    batch_writer_child._serve(str(engine.path), sent.read, out)
    first, missing = [json.loads(line) for line in out.getvalue().splitlines()]
    assert first["first"] >= int(NOW * 1_000_000)
    assert missing["error"] == "not_found" and "gone" in missing["message"]
    assert [r[0] for r in engine.conn.execute("SELECT key FROM items ORDER BY key")] == ["k0", "k1", "k2"]


def test_a_child_that_dies_hands_the_chunk_back_and_nothing_is_lost(engine, capsys):
    sid = engine.create_store("s").id
    with _requests(engine, 2):
        engine.put_batch(sid, [BatchEntry("a", b"1"), BatchEntry("b", b"2")])
        writer = engine.batch_writer
        assert writer is not None and writer._proc is not None
        writer._proc.kill()
        writer._proc.wait()
        in_process = _counting_writes(engine)
        result = engine.put_batch(sid, [BatchEntry("c", b"3"), BatchEntry("d", b"4")])
        assert result.written == 2
        assert in_process == [1]  # written here instead
        engine.put_batch(sid, [BatchEntry("e", b"5"), BatchEntry("f", b"6")])
        assert in_process == [1, 1]  # and from then on
    assert sorted(engine.list_keys(sid).items) == ["a", "b", "c", "d", "e", "f"]
    err = capsys.readouterr().err
    assert err.count("the batch writer process stopped") == 1


def test_closing_the_engine_stops_the_child(engine):
    sid = engine.create_store("s").id
    with _requests(engine, 2):
        engine.put_batch(sid, ENTRIES)
    writer = engine.batch_writer
    assert writer is not None
    proc = writer._proc
    assert proc is not None and proc.poll() is None
    engine.close()
    assert proc.poll() is not None  # waited for, not left behind
    in_process = _counting_writes(engine)
    with _requests(engine, 2):  # a closed writer hands chunks back, and starts no child again
        assert engine.put_batch(sid, [BatchEntry("late", b"x"), BatchEntry("later", b"y")]).written == 2
    assert in_process == [1] and writer._proc is None


def test_a_child_that_cannot_start_hands_the_chunk_back(engine, monkeypatch, capsys):
    sid = engine.create_store("s").id
    writer = engine.batch_writer
    assert writer is not None

    def cannot_start(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(batch_writer.subprocess, "Popen", cannot_start)
    in_process = _counting_writes(engine)
    with _requests(engine, 2):
        assert engine.put_batch(sid, [BatchEntry("a", b"1"), BatchEntry("b", b"2")]).written == 2
    assert in_process == [1] and not writer.working
    assert "Too many open files" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child processes are read from /proc")
def test_local_serve_stops_its_batch_writer_when_it_stops(tmp_path):
    from tests.served import LocalServe

    server = LocalServe(tmp_path / "data")
    try:
        import httpx

        headers = {"Fastly-Key": "t"}
        sid = httpx.post(f"{server.url}/resources/stores/kv", json={"name": "s"}, headers=headers).json()["id"]
        body = b'{"key":"a","value":"YQ=="}\n'
        resp = httpx.put(f"{server.url}/resources/stores/kv/{sid}/batch", content=body, headers=headers)
        assert resp.status_code == 200
        children = _children(server.proc.pid)
        assert len(children) == 1  # started by the first batch request
    finally:
        server.stop()
    assert not os.path.exists(f"/proc/{children[0]}")  # ended and reaped before the server exited


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{name}/children") as fh:
                found += [int(c) for c in fh.read().split()]
        except FileNotFoundError:  # that thread ended meanwhile
            continue
    return found


def test_overlapping_batches_and_single_writes_from_many_threads_lose_nothing(engine):
    """The child's transactions and this process's meet only in SQLite's locking: every key lands, and every
    generation is distinct (both reserve them from the same counter)."""
    import threading

    sid = engine.create_store("s").id
    start = threading.Barrier(5)
    failures: list[BaseException] = []

    def batches(worker: int) -> None:
        try:
            with engine.batch_request():
                start.wait()
                for chunk in range(10):
                    entries = [BatchEntry(f"w{worker}-c{chunk}-{i}", b"v") for i in range(50)]
                    assert engine.put_batch(sid, entries).written == 50
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    def singles() -> None:
        try:
            start.wait()
            for i in range(50):
                engine.put_item(sid, f"single-{i}", b"s")
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=batches, args=(w,)) for w in range(4)] + [threading.Thread(target=singles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    rows = engine.conn.execute("SELECT key, generation FROM items").fetchall()
    assert len(rows) == 4 * 10 * 50 + 50
    assert len({g for _, g in rows}) == len(rows)


@pytest.mark.timeout(120)
def test_an_answer_the_parent_cannot_read_stops_the_child_and_leaves_no_caller_waiting(engine, monkeypatch, capsys):
    sid = engine.create_store("s").id

    def unreadable(answer):
        raise TypeError("not an answer")

    monkeypatch.setattr(batch_writer, "_outcome", unreadable)
    with _requests(engine, 2):
        writer = engine.batch_writer
        assert writer is not None
        writer.warm()
        proc = writer._proc
        assert proc is not None
        in_process = _counting_writes(engine)
        assert engine.put_batch(sid, [BatchEntry("a", b"1"), BatchEntry("b", b"2")]).written == 2
    assert in_process == [1]  # handed back, written here
    assert not writer.working and proc.poll() is not None  # the child was stopped before that
    assert engine.get_item(sid, "b").value == b"2"
    assert "not an answer" in capsys.readouterr().err


def test_a_reader_thread_that_cannot_start_stops_the_child_and_the_count_stays_right(engine, monkeypatch, capsys):
    import kvcli.threads

    started: list = []
    real_popen = batch_writer.subprocess.Popen

    def recording_popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    class NoThread:
        def start(self):
            raise RuntimeError("can't start new thread")

    monkeypatch.setattr(batch_writer.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(kvcli.threads, "worker_thread", lambda target, name: NoThread())
    sid = engine.create_store("s").id
    writer = engine.batch_writer
    assert writer is not None
    with _requests(engine, 2):
        assert engine.put_batch(sid, [BatchEntry("a", b"1"), BatchEntry("b", b"2")]).written == 2
    assert writer.requests.count == 0
    assert len(started) == 1 and started[0].poll() is not None  # killed and reaped
    assert not writer.working and "can't start new thread" in capsys.readouterr().err


def test_the_child_hands_a_chunk_back_when_the_database_stays_locked(tmp_path):
    import sqlite3

    path = tmp_path / "kvcli.db"
    setup = Engine(path)
    sid = setup.create_store("s").id
    setup.close()
    from kvcli.local.engine_batch import prepare_rows

    entries = [BatchEntry("a", b"1"), BatchEntry("b", b"2")]
    prepared = prepare_rows(sqlite3.connect(":memory:"), entries)
    assert prepared is not None
    request = ({"store": sid, "count": 2, "now": NOW}, *prepared)
    child = batch_writer_child._open(str(path))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        assert batch_writer_child._write(child, request, [0.0])["error"] == "retry"
        other.execute("ROLLBACK")
        assert "first" in batch_writer_child._write(child, request, [0.0])
    finally:
        other.close()
        child.close()


def test_an_in_process_write_waits_for_the_chunks_sent_to_the_child(engine):
    """Both sides take turns in this process (never in SQLite's busy handler): a write here starts only once every
    chunk sent to the child has been answered, and sends none meanwhile."""
    sid = engine.create_store("s").id
    writer = engine.batch_writer
    assert writer is not None
    writer.warm()
    writer._pending.append(batch_writer._Chunk(sid, 1, NOW, ("[]", b"")))  # sent, not yet answered
    seen: list[int] = []

    def answered(timeout=None):  # what the reader thread does when the answer comes
        seen.append(len(writer._pending))
        writer._pending.clear()
        return True

    writer._idle.wait = answered  # type: ignore[method-assign]
    engine.put_item(sid, "k", b"v")
    assert seen == [1]
    assert engine.get_item(sid, "k").value == b"v"
