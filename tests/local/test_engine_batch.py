"""A batch write goes in as one SQL statement (issue 14, the file import): the rows it stores are exactly those the
per-row ``executemany`` stored, and it falls back to that where JSON would not carry a row exactly."""

from __future__ import annotations

import time

import pytest

from kvcli.api.models import BatchEntry
from kvcli.local import engine_batch
from kvcli.local.engine import Engine

ROWS = "SELECT key, metadata, generation, size, last_modified, expires_at, value FROM items ORDER BY key"

ENTRIES = [
    BatchEntry("plain", b"value"),
    BatchEntry("empty", b""),
    BatchEntry("binary", bytes(range(256)) * 3),
    BatchEntry("ünïcödé-ключ-鍵-🔑", "välue".encode()),
    BatchEntry("meta", b"m", metadata='{"a": "b\\\\c", "quote": "\\""} ünï'),
    BatchEntry("ttl", b"t", ttl=3600),
    BatchEntry("ttl-and-meta", b"tm", metadata="x", ttl=7),
    BatchEntry("dup", b"first", metadata="one"),
    BatchEntry("nul-in-value", b"a\x00b\x00"),
    BatchEntry("dup", b"second"),  # later wins, with the later generation
    BatchEntry("big", b"B" * 300_000),
    BatchEntry("bg", b"g", background_fetch=True),
]


def _engine(path, now):
    return Engine(path, clock=lambda: now)


def _stored(tmp_path, name, entries, *, json_path: bool, monkeypatch) -> tuple[list[tuple], list[str]]:
    monkeypatch.setattr(engine_batch, "_json_works", None if json_path else False)
    eng = _engine(tmp_path / f"{name}.db", 1_700_000_000.123456)
    try:
        sid = eng.create_store("s").id
        statements: list[str] = []
        eng.conn.set_trace_callback(statements.append)
        result = eng.put_batch(sid, entries)
        eng.conn.set_trace_callback(None)
        assert result.errors == [] and result.written == len(entries)
        rows = [tuple(r) for r in eng.conn.execute(ROWS)]
        return rows, [s for s in statements if s.lstrip().upper().startswith("INSERT INTO ITEMS")]
    finally:
        eng.close()


def test_a_batch_is_stored_exactly_as_the_per_row_writes_stored_it(tmp_path, monkeypatch):
    one, one_sql = _stored(tmp_path, "one", ENTRIES, json_path=True, monkeypatch=monkeypatch)
    per_row, per_row_sql = _stored(tmp_path, "rows", ENTRIES, json_path=False, monkeypatch=monkeypatch)
    assert one == per_row
    assert len(one_sql) == 1 and "json_each" in one_sql[0]  # one statement for the whole batch
    assert len(per_row_sql) == len(ENTRIES)
    by_key = {r[0]: r for r in one}
    assert by_key["dup"][6] == b"second" and by_key["dup"][1] == ""
    assert by_key["empty"][6] == b"" and isinstance(by_key["empty"][6], bytes)
    assert by_key["binary"][6] == bytes(range(256)) * 3
    assert by_key["ttl"][5] == 1_700_000_000.123456 + 3600
    assert by_key["plain"][5] is None


def test_generations_increase_in_input_order_across_the_batch(tmp_path, monkeypatch):
    entries = [BatchEntry(f"k{i:04d}", b"v") for i in range(1000)]
    rows, _ = _stored(tmp_path, "gen", entries, json_path=True, monkeypatch=monkeypatch)
    gens = [r[2] for r in rows]
    assert gens == sorted(gens) and len(set(gens)) == 1000 and gens[-1] - gens[0] == 999


def test_a_batch_of_empty_values_only_stores_empty_values(tmp_path, monkeypatch):
    entries = [BatchEntry(f"e{i}", b"") for i in range(5)]
    one, sql = _stored(tmp_path, "empties", entries, json_path=True, monkeypatch=monkeypatch)
    assert len(sql) == 1 and [r[6] for r in one] == [b""] * 5 and all(type(r[6]) is bytes for r in one)


@pytest.mark.parametrize("where", ["key", "metadata"])
def test_a_nul_character_in_a_key_or_metadata_takes_the_per_row_path_and_is_kept(tmp_path, monkeypatch, where):
    odd = BatchEntry("a\x00b", b"v") if where == "key" else BatchEntry("k", b"v", metadata="m\x00n")
    entries = [BatchEntry("plain", b"p"), odd]
    rows, sql = _stored(tmp_path, "nul", entries, json_path=True, monkeypatch=monkeypatch)
    assert len(sql) == 2  # per row
    assert ("a\x00b" if where == "key" else "k") in {r[0] for r in rows}
    if where == "metadata":
        assert {r[0]: r[1] for r in rows}["k"] == "m\x00n"


def test_without_json_functions_the_batch_is_written_row_by_row(tmp_path, monkeypatch):
    rows, sql = _stored(tmp_path, "nojson", ENTRIES, json_path=False, monkeypatch=monkeypatch)
    assert len(rows) == len(ENTRIES) - 1  # "dup" twice
    assert len(sql) == len(ENTRIES)


# ---------------------------------------------------------------------------- concurrent writers (issue 14)
def _trace(eng: Engine) -> list[str]:
    statements: list[str] = []
    eng.conn.set_trace_callback(statements.append)
    return statements


def test_a_chunk_runs_two_statements_in_its_transaction(tmp_path):
    """The store check and the generation reservation are one statement, and the rows' JSON is made before the write
    lock is taken: the transaction of a chunk is BEGIN IMMEDIATE, that statement, the INSERT and COMMIT."""
    eng = Engine(tmp_path / "t.db")
    try:
        sid = eng.create_store("s").id
        engine_batch._has_json(eng.conn)  # probed once per process: not part of a chunk's transaction
        statements = _trace(eng)
        eng.put_batch(sid, [BatchEntry(f"k{i}", b"v") for i in range(10)])
        eng.conn.set_trace_callback(None)
        assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT", statements
        assert len(statements) == 4, statements
        assert statements[2].lstrip().upper().startswith("INSERT INTO ITEMS")
    finally:
        eng.close()


def test_the_json_of_a_chunk_is_made_before_the_write_lock_is_taken(tmp_path, monkeypatch):
    eng = Engine(tmp_path / "t.db")
    held: list[bool] = []
    real_dumps = engine_batch.json.dumps

    def dumps(*args, **kwargs):
        held.append(eng._write_lock._is_owned())  # type: ignore[attr-defined]
        return real_dumps(*args, **kwargs)

    monkeypatch.setattr(engine_batch.json, "dumps", dumps)
    try:
        sid = eng.create_store("s").id
        eng.put_batch(sid, [BatchEntry(f"k{i}", b"v") for i in range(10)])
        assert held == [False]
    finally:
        eng.close()


@pytest.fixture(params=["returning", "two-statements"])
def reservation(request, monkeypatch) -> str:
    """Both ways of checking the store and reserving generations: one statement with RETURNING (SQLite >= 3.35), and
    the SELECT then upsert that older SQLite takes."""
    from kvcli.local import engine as engine_mod

    if request.param == "two-statements":
        monkeypatch.setattr(engine_mod, "_RETURNING_WORKS", False)
    elif not engine_mod._RETURNING_WORKS:  # pragma: no cover - an old SQLite
        pytest.skip("this SQLite has no RETURNING")
    return request.param


def test_concurrent_batch_writers_keep_generations_strictly_increasing_and_rows_exact(tmp_path, reservation):
    """Threads writing batches (and single items) into two stores at once: every generation in the database is
    distinct, each batch's generations follow its input order without gaps, each thread's later writes have higher
    generations than its earlier ones, the last generation recorded covers them all, and every row is exact."""
    import threading

    eng = Engine(tmp_path / "t.db")
    try:
        stores = [eng.create_store("a").id, eng.create_store("b").id]
        threads_n, batches, per = 4, 12, 150
        barrier = threading.Barrier(threads_n)
        expected: dict[tuple[str, str], tuple[bytes, str, int | None]] = {}
        order: dict[int, list[list[tuple[str, str]]]] = {}
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                barrier.wait()
                for b in range(batches):
                    sid = stores[(t + b) % 2]
                    entries = [
                        BatchEntry(f"t{t}-b{b}-{i:03d}", bytes([t, b, i % 256]) * (i % 7), metadata=f"m{i}" if i % 3
                                   else None, ttl=3600 if i % 5 == 0 else None)
                        for i in range(per)
                    ]
                    eng.put_batch(sid, entries)
                    order.setdefault(t, []).append([(sid, e.key) for e in entries])
                    single = f"t{t}-single-{b}"
                    eng.put_item(sid, single, b"s")
                    order[t].append([(sid, single)])
                    for e in entries:
                        expected[(sid, e.key)] = (e.value, e.metadata or "", e.ttl)
                    expected[(sid, single)] = (b"s", "", None)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors
        rows = {(r[0], r[1]): r[2:] for r in eng.conn.execute(
            "SELECT store_id, key, generation, value, metadata, expires_at, last_modified FROM items")}
        assert len(rows) == len(expected) == threads_n * batches * (per + 1)
        gens = [r[0] for r in rows.values()]
        assert len(set(gens)) == len(gens)
        for key, (value, metadata, ttl) in expected.items():
            gen, stored, meta, expires, modified = rows[key]
            assert (stored, meta) == (value, metadata) and type(stored) is bytes
            if ttl is None:
                assert expires is None
            else:
                assert abs(expires - (modified / 1_000_000 + ttl)) < 1e-5
        for writes in order.values():
            last = 0
            for write in writes:
                g = [rows[k][0] for k in write]
                assert g == list(range(g[0], g[0] + len(g))), "a batch's generations follow its input order"
                assert g[0] > last, "a later write of the same thread has a higher generation"
                last = g[-1]
        recorded = int(eng.conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone()[0])
        assert recorded == max(gens)
    finally:
        eng.close()


def test_a_store_deleted_after_the_rows_are_prepared_is_refused_and_nothing_is_written(
    tmp_path, monkeypatch, reservation
):
    """The store check is part of the chunk's transaction: a store deleted after put_batch was called (its rows already
    prepared) but before the write lock is taken makes the chunk a NotFound, and no generation is used up."""
    from kvcli.api.errors import NotFound

    eng = Engine(tmp_path / "t.db")
    try:
        keep = eng.create_store("keep").id
        sid = eng.create_store("s").id
        eng.put_batch(sid, [BatchEntry("first", b"1")])
        eng.put_item(keep, "other", b"o")
        last = eng.conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone()[0]
        real_write = eng.write

        def write_after_delete():
            monkeypatch.setattr(eng, "write", real_write)
            eng.delete_item(sid, "first")
            eng.delete_store(sid)  # the store goes away between the preparation and the write
            return real_write()

        monkeypatch.setattr(eng, "write", write_after_delete)
        with pytest.raises(NotFound, match="not found"):
            eng.put_batch(sid, [BatchEntry(f"k{i}", b"v") for i in range(10)])
        assert eng.conn.execute("SELECT count(*) FROM items WHERE store_id = ?", (sid,)).fetchone()[0] == 0
        assert eng.conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone()[0] == last
        with pytest.raises(NotFound):  # and again, once it is gone
            eng.put_batch(sid, [BatchEntry("again", b"v"), BatchEntry("again2", b"v")])
        assert eng.get_item(keep, "other").value == b"o"
    finally:
        eng.close()


def test_a_batch_into_a_missing_store_on_a_fresh_database_is_refused(tmp_path, reservation):
    """No last generation recorded yet and no such store: refused, and no last generation is recorded by it."""
    from kvcli.api.errors import NotFound

    eng = Engine(tmp_path / "t.db")
    try:
        with pytest.raises(NotFound):
            eng.put_batch("nosuchstore0000000000", [BatchEntry("a", b"v")])
        assert eng.conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone() is None
        sid = eng.create_store("s").id  # the first reservation of a database starts at the clock
        eng.put_batch(sid, [BatchEntry("a", b"v"), BatchEntry("b", b"v")])
        gens = [r[0] for r in eng.conn.execute("SELECT generation FROM items ORDER BY key")]
        last = eng.conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone()[0]
        assert gens[1] == gens[0] + 1 and last == str(gens[1]) and abs(gens[0] / 1e6 - time.time()) < 3600
    finally:
        eng.close()
