"""A batch write goes in as one SQL statement (issue 14, the file import): the rows it stores are exactly those the
per-row ``executemany`` stored, and it falls back to that where JSON would not carry a row exactly."""

from __future__ import annotations

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
