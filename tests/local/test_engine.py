"""The embedded engine on its own: stores, Fastly's key/metadata/value rules, generations, TTLs, schema, WAL."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC

import pytest

from kvcli.api import validation
from kvcli.api.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    KvcliError,
    NotFound,
    PreconditionFailed,
    TooLarge,
)
from kvcli.api.models import BatchEntry, PutMode
from kvcli.cli.exits import exit_code_for
from kvcli.local import engine as engine_mod
from kvcli.local.engine import DB_FILENAME, MIGRATIONS, Engine, _statements

STORE_ID = re.compile(r"^[a-z0-9]{22}$")
T0 = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand (no sleeping)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def eng(tmp_path, clock):
    e = Engine.in_dir(tmp_path / "data", clock=clock)
    yield e
    e.close()


@pytest.fixture
def sid(eng) -> str:
    return eng.create_store("s").id


# ------------------------------------------------------------------------------------------------------ stores
def test_store_ids_are_22_lowercase_alphanumerics_and_unique(eng):
    ids = [eng.create_store(f"store-{i}").id for i in range(60)]
    assert all(STORE_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    # over 60 ids both letters and digits show up (all-letters or all-digits would mean a wrong alphabet)
    joined = "".join(ids)
    assert re.search(r"[a-z]", joined) and re.search(r"[0-9]", joined)


def test_create_store_records_name_location_and_timestamps(eng, clock):
    clock.t = 1_700_000_123.75
    s = eng.create_store("eu-store", "EU")
    assert (s.name, s.location) == ("eu-store", "EU")
    assert s.created_at == s.updated_at
    assert s.created_at.tzinfo is not None and s.created_at.utcoffset().total_seconds() == 0
    assert s.created_at.timestamp() == 1_700_000_123  # whole seconds, like Fastly's timestamps
    again = eng.get_store(s.id)
    assert again == s


@pytest.mark.parametrize("location", ["US", "EU", "ASIA", "AUS", None])
def test_every_fastly_location_is_accepted(eng, location):
    s = eng.create_store(f"loc-{location}", location)
    assert eng.get_store(s.id).location == location


@pytest.mark.parametrize("location", ["eu", "AU", "MARS", ""])
def test_unknown_location_is_refused(eng, location):
    with pytest.raises(InvalidInput):
        eng.create_store("x", location)
    assert eng.list_stores().items == []


def test_duplicate_store_name_is_refused_like_the_api(eng):
    first = eng.create_store("dup")
    with pytest.raises(InvalidInput, match="already exists") as info:
        eng.create_store("dup")
    assert info.value.status == 400  # Fastly answers 400, not 409, for a duplicate name
    assert [s.id for s in eng.list_stores().items] == [first.id]
    # names are compared exactly
    assert eng.create_store("Dup").name == "Dup"


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "tab\there", "x" * 256])
def test_invalid_store_names_are_refused(eng, name):
    with pytest.raises(InvalidInput):
        eng.create_store(name)


def test_unknown_store_is_not_found(eng):
    with pytest.raises(NotFound):
        eng.get_store("a" * 22)
    with pytest.raises(NotFound):
        eng.find_store("nope")
    with pytest.raises(NotFound):
        eng.delete_store("a" * 22)
    with pytest.raises(NotFound):
        eng.put_item("a" * 22, "k", b"v")
    with pytest.raises(NotFound):
        eng.list_keys("a" * 22)


def test_find_store_by_name(eng):
    s = eng.create_store("by-name")
    assert eng.find_store("by-name") == s


def test_list_stores_pages_cover_every_store_once_in_name_order(eng):
    names = ["b", "A", "c_d", "cd-e", "a-1", "Zeta", "m"]
    for n in names:
        eng.create_store(n)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = eng.list_stores(cursor=cursor, limit=2)
        pages += 1
        assert len(page.items) <= 2
        assert page.total == len(names)
        seen += [s.name for s in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 4
    assert sorted(seen) == sorted(names) and len(seen) == len(names)
    assert seen == [s.name for s in eng.list_stores().items]  # same order as one big page
    assert seen == sorted(names, key=engine_mod.store_sort_key)


def test_list_stores_rejects_bad_cursor_and_limit(eng):
    with pytest.raises(InvalidInput):
        eng.list_stores(cursor="not a cursor!")
    with pytest.raises(InvalidInput):
        eng.list_stores(limit=0)


def test_delete_empty_store(eng):
    s = eng.create_store("gone")
    eng.delete_store(s.id)
    with pytest.raises(NotFound):
        eng.get_store(s.id)
    assert eng.create_store("gone").id != s.id  # the name is free again


def test_deleting_a_non_empty_store_is_a_conflict(eng, sid):
    eng.put_item(sid, "k", b"v")
    with pytest.raises(Conflict) as info:
        eng.delete_store(sid)
    assert info.value.status == 409 and exit_code_for(info.value) == 4
    assert "not empty" in info.value.message
    assert eng.get_store(sid).id == sid
    assert eng.get_item(sid, "k").value == b"v"
    eng.delete_item(sid, "k")
    eng.delete_store(sid)


def test_a_store_holding_only_expired_items_counts_as_empty(eng, sid, clock):
    eng.put_item(sid, "k", b"v", ttl=5)
    with pytest.raises(Conflict):
        eng.delete_store(sid)
    clock.t += 5
    eng.delete_store(sid)
    with pytest.raises(NotFound):
        eng.get_store(sid)


# -------------------------------------------------------------------------------------------------------- keys
def _refused(eng, sid, key) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        eng.put_item(sid, key, b"v")
    assert exit_code_for(info.value) == 2
    assert info.value.hint  # every refusal says how to fix it
    return info.value


@pytest.mark.parametrize(
    "key",
    [
        "k" * 1024,  # exactly the limit, ASCII
        "é" * 512,  # exactly 1024 UTF-8 bytes with 2-byte characters
        "€" * 341 + "a",  # 1023 + 1 bytes, 3-byte characters
        "a",
        "...",
        "./a",
        "a/../b",
        ".well-known/acme-challenge",  # without the trailing slash the prefix rule does not apply
        ".well-known/other/x",
        "spaces and / slashes",
        "ünïcødé-🔑",
        "!$%&'()*+,-/:<=>@[]_`{}~",
    ],
)
def test_valid_keys_are_stored_and_read_back(eng, sid, key):
    eng.put_item(sid, key, b"v")
    assert eng.get_item(sid, key).value == b"v"
    assert key in eng.list_keys(sid).items


def test_key_limit_is_1024_utf8_bytes(eng, sid):
    assert "1025 bytes" in _refused(eng, sid, "k" * 1025).message
    _refused(eng, sid, "é" * 512 + "a")  # 1025 bytes in 513 characters
    _refused(eng, sid, "🔑" * 257)  # 1028 bytes in 257 characters
    assert eng.list_keys(sid).items == []


@pytest.mark.parametrize("key", ["", "\r", "\n", "a\rb", "a\nb", "line\r\n"])
def test_empty_keys_and_cr_lf_are_refused(eng, sid, key):
    _refused(eng, sid, key)


@pytest.mark.parametrize("key", [".", ".."])
def test_dot_and_dotdot_are_refused(eng, sid, key):
    _refused(eng, sid, key)


@pytest.mark.parametrize("key", [".well-known/acme-challenge/", ".well-known/acme-challenge/token"])
def test_acme_challenge_prefix_is_refused(eng, sid, key):
    assert "acme-challenge" in _refused(eng, sid, key).message


@pytest.mark.parametrize("char", list("#;?^|"))
def test_js_sdk_forbidden_characters_are_refused(eng, sid, char):
    _refused(eng, sid, f"a{char}b")
    _refused(eng, sid, char)


def test_key_rules_apply_to_every_write_path(eng, sid):
    with pytest.raises(InvalidInput):
        eng.put_item(sid, "a#b", b"v", mode=PutMode.APPEND)
    result = eng.put_batch(sid, [BatchEntry("ok", b"1"), BatchEntry("bad|key", b"2"), BatchEntry(".", b"3")])
    assert result.written == 1
    assert [(e.index, e.key) for e in result.errors] == [(1, "bad|key"), (2, ".")]
    assert eng.list_keys(sid).items == ["ok"]


# ---------------------------------------------------------------------------------------------------- metadata
def test_metadata_limit_is_2000_bytes(eng, sid):
    eng.put_item(sid, "a", b"v", metadata="m" * 2000)
    assert eng.describe_item(sid, "a").metadata == "m" * 2000
    eng.put_item(sid, "b", b"v", metadata="é" * 1000)  # 2000 bytes
    with pytest.raises(InvalidInput, match="2001 bytes"):
        eng.put_item(sid, "c", b"v", metadata="m" * 2001)
    with pytest.raises(InvalidInput):
        eng.put_item(sid, "d", b"v", metadata="é" * 1000 + "x")
    batch = eng.put_batch(sid, [BatchEntry("e", b"v", metadata="m" * 2001)])
    assert batch.written == 0 and len(batch.errors) == 1
    assert eng.list_keys(sid).items == ["a", "b"]


def test_metadata_defaults_to_empty_and_is_replaced_on_write(eng, sid):
    eng.put_item(sid, "k", b"v", metadata="first")
    assert eng.describe_item(sid, "k").metadata == "first"
    eng.put_item(sid, "k", b"v2")
    assert eng.describe_item(sid, "k").metadata == ""


# ------------------------------------------------------------------------------------------------------ values
def test_default_value_limit_is_25_mib(monkeypatch):
    monkeypatch.delenv("KVCLI_MAX_VALUE_BYTES", raising=False)
    assert validation.max_value_bytes() == 25 * 1024 * 1024


def test_value_limit_from_the_engine_argument(tmp_path):
    e = Engine.in_dir(tmp_path / "d", max_value_bytes=10)
    try:
        sid = e.create_store("s").id
        e.put_item(sid, "fits", b"x" * 10)
        with pytest.raises(TooLarge) as info:
            e.put_item(sid, "big", b"x" * 11)
        assert info.value.status == 413 and exit_code_for(info.value) == 2
        # append/prepend may not grow a value past the limit either
        e.put_item(sid, "grow", b"x" * 6)
        with pytest.raises(TooLarge):
            e.put_item(sid, "grow", b"x" * 5, mode=PutMode.APPEND)
        assert e.get_item(sid, "grow").value == b"x" * 6
        batch = e.put_batch(sid, [BatchEntry("b1", b"x" * 10), BatchEntry("b2", b"x" * 11)])
        assert batch.written == 1 and [err.key for err in batch.errors] == ["b2"]
        assert sorted(e.list_keys(sid).items) == ["b1", "fits", "grow"]
    finally:
        e.close()


def test_value_limit_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "5")
    e = Engine.in_dir(tmp_path / "d")
    try:
        sid = e.create_store("s").id
        e.put_item(sid, "fits", b"12345")
        with pytest.raises(TooLarge, match="6 bytes; the limit is 5"):
            e.put_item(sid, "big", b"123456")
        assert e.put_batch(sid, [BatchEntry("b", b"123456")]).written == 0
    finally:
        e.close()


@pytest.mark.parametrize("raw", ["", "0", "-3", "lots"])
def test_unusable_value_limit_in_the_environment_falls_back_to_the_default(monkeypatch, raw):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", raw)
    assert validation.max_value_bytes() == validation.DEFAULT_MAX_VALUE_BYTES


def test_values_are_bytes_exactly(eng, sid):
    value = bytes(range(256)) * 4
    eng.put_item(sid, "bin", value)
    item = eng.get_item(sid, "bin")
    assert item.value == value and item.info.size == len(value)
    eng.put_item(sid, "empty", b"")
    assert eng.get_item(sid, "empty").value == b""


# ------------------------------------------------------------------------------------------------- generations
def test_generation_strictly_increases_with_every_write(eng, sid, clock):
    gens = []
    for i in range(5):
        gens.append(eng.put_item(sid, "k", f"v{i}".encode()))
        assert eng.describe_item(sid, "k").generation == gens[-1]
    gens.append(eng.put_item(sid, "other", b"v"))
    gens.append(eng.put_item(eng.create_store("s2").id, "k", b"v"))  # the counter spans stores
    clock.t -= 3600  # a clock that goes backwards does not make generations go backwards
    gens.append(eng.put_item(sid, "k", b"later"))
    gens += [eng.put_item(sid, "k", b"same-instant") for _ in range(3)]  # frozen clock
    batch_keys = [f"b{i}" for i in range(4)]
    eng.put_batch(sid, [BatchEntry(k, b"v") for k in batch_keys])
    gens += [eng.describe_item(sid, k).generation for k in batch_keys]
    gens.append(eng.put_item(sid, "k", b"v", mode=PutMode.APPEND))
    assert all(b > a for a, b in zip(gens, gens[1:], strict=False)), gens
    assert all(0 < g < 2**64 for g in gens)


def test_generations_survive_reopening(tmp_path, clock):
    e = Engine.in_dir(tmp_path / "d", clock=clock)
    sid = e.create_store("s").id
    g1 = e.put_item(sid, "k", b"v")
    e.close()
    clock.t -= 1000
    e2 = Engine.in_dir(tmp_path / "d", clock=clock)
    try:
        assert e2.put_item(sid, "k", b"v") > g1
    finally:
        e2.close()


def test_if_generation_match_and_add_mode(eng, sid):
    g = eng.put_item(sid, "k", b"v1")
    with pytest.raises(PreconditionFailed):
        eng.put_item(sid, "k", b"v2", if_generation_match=g + 1)
    with pytest.raises(PreconditionFailed):
        eng.put_item(sid, "k", b"v2", mode=PutMode.ADD)
    g2 = eng.put_item(sid, "k", b"v2", if_generation_match=g)
    assert g2 > g and eng.get_item(sid, "k").value == b"v2"


# ---------------------------------------------------------------------------------------------------------- TTL
def test_expired_items_are_invisible_to_every_read(eng, sid, clock):
    eng.put_item(sid, "ttl", b"v", ttl=10)
    eng.put_item(sid, "forever", b"v")
    info = eng.describe_item(sid, "ttl")
    assert info.expires_at is not None and info.expires_at.timestamp() == pytest.approx(T0 + 10)
    assert info.expires_at.tzinfo == UTC
    assert eng.describe_item(sid, "forever").expires_at is None

    clock.t = T0 + 9.999
    assert eng.get_item(sid, "ttl").value == b"v"
    assert eng.list_keys(sid).items == ["forever", "ttl"]
    assert eng.list_keys(sid, prefix="t").items == ["ttl"]

    clock.t = T0 + 10
    with pytest.raises(NotFound):
        eng.get_item(sid, "ttl")
    with pytest.raises(NotFound):
        eng.describe_item(sid, "ttl")
    assert eng.list_keys(sid).items == ["forever"]
    assert eng.list_keys(sid, prefix="t").items == []
    with pytest.raises(NotFound):
        eng.delete_item(sid, "ttl")
    eng.delete_item(sid, "ttl", force=True)  # forced delete of a missing key is fine
    assert eng.get_item(sid, "forever").value == b"v"


def test_an_expired_key_can_be_added_again_and_append_starts_fresh(eng, sid, clock):
    g = eng.put_item(sid, "k", b"old", ttl=1)
    clock.t += 1
    assert eng.put_item(sid, "k", b"new", mode=PutMode.ADD) > g
    assert eng.get_item(sid, "k").value == b"new"
    assert eng.get_item(sid, "k").info.expires_at is None  # a write without TTL clears the expiry
    eng.put_item(sid, "a", b"old", ttl=1)
    clock.t += 1
    eng.put_item(sid, "a", b"new", mode=PutMode.APPEND)
    assert eng.get_item(sid, "a").value == b"new"


def test_batch_entries_get_their_ttl(eng, sid, clock):
    eng.put_batch(sid, [BatchEntry("short", b"v", ttl=5), BatchEntry("long", b"v", ttl=50), BatchEntry("none", b"v")])
    clock.t += 5
    assert eng.list_keys(sid).items == ["long", "none"]


def test_purge_expired_removes_only_expired_rows(eng, sid, clock):
    eng.put_item(sid, "a", b"v", ttl=1)
    eng.put_item(sid, "b", b"v", ttl=100)
    eng.put_item(sid, "c", b"v")
    clock.t += 2
    assert eng.purge_expired() == 1
    assert eng.list_keys(sid).items == ["b", "c"]


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True])
def test_invalid_ttl_is_refused(eng, sid, ttl):
    with pytest.raises(InvalidInput):
        eng.put_item(sid, "k", b"v", ttl=ttl)


# ------------------------------------------------------------------------------------------------------- schema
def _db(tmp_path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "data" / DB_FILENAME)


def test_fresh_database_is_at_the_latest_schema_version(eng, tmp_path):
    assert eng.schema_version() == len(MIGRATIONS)
    with _db(tmp_path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0] == str(len(MIGRATIONS))


def test_migrations_run_once_and_upgrade_existing_data(tmp_path, monkeypatch):
    e = Engine.in_dir(tmp_path / "data")
    sid = e.create_store("kept").id
    e.put_item(sid, "k", b"v")
    e.close()

    # a new kvcli release appends a migration: it runs on the next open, once, and the data is kept
    extra = "CREATE TABLE probe (n INTEGER); INSERT INTO probe VALUES (1); INSERT INTO probe VALUES (';')"
    monkeypatch.setattr(engine_mod, "MIGRATIONS", [*MIGRATIONS, extra])
    for _ in range(3):  # a second run would fail on CREATE TABLE or insert more rows
        e = Engine.in_dir(tmp_path / "data")
        assert e.schema_version() == len(MIGRATIONS) + 1
        e.close()
    with _db(tmp_path) as conn:
        assert conn.execute("SELECT n FROM probe ORDER BY rowid").fetchall() == [(1,), (";",)]
    e = Engine.in_dir(tmp_path / "data")
    try:
        assert e.get_item(sid, "k").value == b"v"
    finally:
        e.close()


def test_a_failing_migration_leaves_the_database_unchanged(tmp_path, monkeypatch):
    Engine.in_dir(tmp_path / "data").close()
    monkeypatch.setattr(engine_mod, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE half (x); SELECT * FROM missing"])
    with pytest.raises(sqlite3.OperationalError):
        Engine.in_dir(tmp_path / "data")
    with _db(tmp_path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='half'").fetchone()[0] == 0
        assert conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0] == str(len(MIGRATIONS))


def test_a_database_from_a_newer_kvcli_is_refused_and_left_alone(tmp_path):
    e = Engine.in_dir(tmp_path / "data")
    e.create_store("s")
    e.close()
    newer = len(MIGRATIONS) + 1
    with _db(tmp_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(newer),))
    with pytest.raises(ConfigError) as info:
        Engine.in_dir(tmp_path / "data")
    assert isinstance(info.value, KvcliError) and exit_code_for(info.value) == 1
    assert f"schema version {newer}" in info.value.message and "upgrade kvcli" in info.value.hint
    with _db(tmp_path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0] == str(newer)
        assert conn.execute("SELECT count(*) FROM stores").fetchone()[0] == 1


def test_migration_scripts_split_on_statement_boundaries_only():
    script = """
        CREATE TABLE a (x TEXT DEFAULT ';');
        -- a comment; with a semicolon
        CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y;z'; END;
        CREATE INDEX i ON a(x)
    """
    parts = [" ".join(p.split()) for p in _statements(script)]
    assert len(parts) == 3, parts
    assert parts[0] == "CREATE TABLE a (x TEXT DEFAULT ';');"
    assert parts[1].endswith("BEGIN UPDATE a SET x = 'y;z'; END;")
    assert parts[2].startswith("CREATE INDEX i ON a(x)")
    conn = sqlite3.connect(":memory:")
    for p in _statements(script):
        conn.execute(p)
    conn.execute("INSERT INTO a VALUES ('q')")
    assert conn.execute("SELECT x FROM a").fetchone()[0] == "y;z"


def test_database_uses_wal_foreign_keys_and_a_busy_timeout(eng, tmp_path):
    with _db(tmp_path) as conn:  # journal_mode=WAL is a property of the file, seen by any connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert eng.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert eng.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert (tmp_path / "data" / DB_FILENAME).is_file()


def test_a_file_that_is_not_a_database_is_a_config_error_and_is_kept(tmp_path):
    (tmp_path / "data").mkdir()
    junk = bytes(range(256)) * 20
    (tmp_path / "data" / DB_FILENAME).write_bytes(junk)
    with pytest.raises(ConfigError) as info:
        Engine.in_dir(tmp_path / "data")
    assert DB_FILENAME in info.value.message and "KVCLI_DATA_DIR" in info.value.hint
    assert (tmp_path / "data" / DB_FILENAME).read_bytes() == junk


def test_engine_creates_its_data_directory(tmp_path):
    target = tmp_path / "deep" / "er" / "data"
    e = Engine.in_dir(target)
    e.close()
    assert (target / DB_FILENAME).is_file()


def test_engine_is_usable_from_several_threads(eng, sid):
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                eng.put_item(sid, f"t{n}-{i}", b"v")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(eng.list_keys(sid).items) == 100


@pytest.mark.parametrize("limit", [2**63 - 1, 2**64])
def test_a_page_limit_past_sqlites_integers_lists_every_key_instead_of_failing(eng, limit):
    # ?limit=9223372036854775807 reached SQLite as limit + 1 and overflowed: local serve answered 500 (fuzz)
    sid = eng.create_store("s").id
    for k in ("a", "b"):
        eng.put_item(sid, k, b"1")
    page = eng.list_keys(sid, limit=limit)
    assert (page.items, page.next_cursor) == (["a", "b"], None)
    assert [i.key for i in eng.list_items(sid, limit=limit).items] == ["a", "b"]
