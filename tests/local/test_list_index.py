"""A key listing reads one covering index (issue 14): (store_id, key, expires_at).

Without it the expiry filter of ``Engine.list_keys`` read every listed row from the table. Databases made before the
index existed get it when they are opened (a schema migration, idempotent), and keep every entry.
"""

from __future__ import annotations

import sqlite3

from kvcli.api.models import BatchEntry
from kvcli.local.engine import MIGRATIONS, Engine

INDEX = "items_live"


def _plan(eng: Engine, sql: str, args: tuple) -> str:
    return " ".join(row[-1] for row in eng.conn.execute("EXPLAIN QUERY PLAN " + sql, args))


def test_a_key_listing_is_answered_from_the_covering_index(tmp_path):
    now = [1_000_000.0]
    eng = Engine(tmp_path / "kv.db", clock=lambda: now[0])
    try:
        sid = eng.create_store("s").id
        eng.put_batch(sid, [BatchEntry(key=f"k{i:03d}", value=b"v") for i in range(50)])
        eng.put_item(sid, "gone", b"v", ttl=1)
        now[0] += 5  # "gone" has expired: the listing filters it out from the index alone
        sqls: list[tuple[str, tuple]] = []
        real = eng.conn

        class Spy:
            def execute(self, sql, args=()):
                sqls.append((sql, tuple(args)))
                return real.execute(sql, args)

        eng._local.conn = Spy()
        try:
            eng.list_keys(sid, limit=10)
            eng.list_keys(sid, prefix="k0", limit=10)
        finally:
            eng._local.conn = real
        listings = [(sql, args) for sql, args in sqls if sql.startswith("SELECT key FROM items")]
        assert len(listings) == 2
        for sql, args in listings:
            plan = _plan(eng, sql, args)
            assert f"COVERING INDEX {INDEX}" in plan, plan
        assert eng.list_keys(sid, limit=3).items == ["k000", "k001", "k002"]
    finally:
        eng.close()


def _previous_schema_db(path) -> None:
    """A database as the kvcli before the index made it (every migration but the last), with entries in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for script in MIGRATIONS[:-1]:
        conn.executescript(script)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(len(MIGRATIONS) - 1),))
    conn.execute("INSERT INTO stores VALUES ('sid1', 'old', NULL, 1, 1)")
    conn.executemany(
        "INSERT INTO items(store_id, key, metadata, generation, size, last_modified, expires_at, value) "
        "VALUES ('sid1', ?, '', 1, 1, 1, NULL, x'76')",
        [(f"k{i}",) for i in range(5)],
    )
    conn.close()


def test_a_database_of_the_previous_schema_gets_the_index_and_keeps_its_entries(tmp_path):
    path = tmp_path / "kv.db"
    _previous_schema_db(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (INDEX,)).fetchone() is None
    for _ in range(2):  # opening again is a no-op
        eng = Engine(path)
        try:
            assert eng.schema_version() == len(MIGRATIONS)
            assert eng.list_keys("sid1").items == [f"k{i}" for i in range(5)]
            assert eng.get_item("sid1", "k3").value == b"v"
            names = [r[0] for r in eng.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
            assert names.count(INDEX) == 1
        finally:
            eng.close()


def test_the_index_migration_is_idempotent_where_the_index_exists_already(tmp_path):
    """A database whose index was made by hand (or by a migration that did not record its version) still opens."""
    path = tmp_path / "kv.db"
    _previous_schema_db(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE INDEX {INDEX} ON items(store_id, key, expires_at)")
    eng = Engine(path)
    try:
        assert eng.schema_version() == len(MIGRATIONS)
        assert eng.list_keys("sid1", limit=2).items == ["k0", "k1"]
    finally:
        eng.close()
