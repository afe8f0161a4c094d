"""The embedded KV engine: one SQLite file (WAL), safe to share between several kvcli processes.

Every refusal is a typed error from :mod:`kvcli.api.errors`; the engine knows nothing of HTTP or of the CLI.
Connections are per thread, writes run in ``BEGIN IMMEDIATE`` transactions, and ``busy_timeout`` makes concurrent
writers wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kvcli.api import validation
from kvcli.api.errors import ConfigError, Conflict, InvalidInput, NotFound, PreconditionFailed, StorageError
from kvcli.api.models import (
    BatchEntry,
    BatchError,
    BatchResult,
    Item,
    ItemInfo,
    Page,
    PutMode,
    Store,
)
from kvcli.api.wire import DEFAULT_LIST_LIMIT, decode_cursor, encode_cursor
from kvcli.local.services import DELETED_SERVICES_MIGRATION, SERVICES_MIGRATION, ServicesMixin

DB_FILENAME = "kvcli.db"
#: a page limit past SQLite's 64-bit integers (``?limit=9223372036854775807``) asks for every row, not an overflow
_SQL_LIMIT_MAX = 2**62
BUSY_TIMEOUT_MS = 60_000
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

# Each entry migrates the schema from version i to i+1. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE stores (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        location TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE items (
        store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '',
        generation INTEGER NOT NULL,
        size INTEGER NOT NULL,
        last_modified INTEGER NOT NULL,
        expires_at REAL,
        value BLOB NOT NULL,
        UNIQUE (store_id, key)
    );
    CREATE INDEX items_expiry ON items(expires_at) WHERE expires_at IS NOT NULL;
    """,
    SERVICES_MIGRATION,  # 1 → 2: services, service_versions, resource_links (kvcli/local/services.py)
    DELETED_SERVICES_MIGRATION,  # 2 → 3: deleted_services (kvcli/local/services.py)
    # 3 → 4: a covering index for key listings (the expiry filter read every listed row from the table without it);
    # IF NOT EXISTS: a database that has it already (made by hand, or a half-recorded upgrade) opens all the same
    "CREATE INDEX IF NOT EXISTS items_live ON items(store_id, key, expires_at);",
]


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script (a ``;`` inside a string literal or a trigger body is kept)."""
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\n;"):
                yield current
            current = ""
    if current.strip(" \t\n;"):
        yield current


READ_ONLY_HINT = (
    "make the data directory and its kvcli.db* files writable by this user, or use another data directory with "
    "KVCLI_DATA_DIR or the profile's data_dir"
)


def storage_error(exc: sqlite3.Error, path: Path) -> StorageError | None:
    """The one-line :class:`StorageError` for a SQLite failure of the disk or file system (None for other errors).

    SQLite rolls a transaction back by itself after some of these, so the real error must be reported before any
    ROLLBACK is tried (whose "no transaction is active" would otherwise hide it).
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return StorageError(
            f"disk full: cannot write {path} ({exc})",
            "free space on its file system or raise the file size limit, ulimit -f, then run the command again",
            storage="full",
        )
    if name.startswith("SQLITE_READONLY"):
        return StorageError(
            f"read-only database: {path} cannot be written ({exc})", READ_ONLY_HINT, storage="read-only"
        )
    if name == "SQLITE_IOERR_WRITE":
        limit = _file_size_limit()
        if limit is not None:
            return StorageError(
                f"file size limit reached: cannot write {path} beyond {limit} bytes ({exc})",
                "raise the file size limit with ulimit -f, then run the command again",
                storage="full",
            )
    if name == "SQLITE_CANTOPEN" and not os.access(path.parent, os.W_OK):
        what = "open the database" if path.exists() else "create the database"
        return StorageError(f"read-only data directory: cannot {what} {path}", READ_ONLY_HINT, storage="read-only")
    if name.startswith("SQLITE_IOERR") or name == "SQLITE_CANTOPEN":
        return StorageError(
            f"I/O error on {path}: {exc} ({name})",
            "check the disk and the data directory, where kvcli.db-wal and kvcli.db-shm must not be removed while "
            "kvcli runs; stop every kvcli using it, then run the command again",
            storage="io",
        )
    return None


def _file_size_limit() -> int | None:
    """The process's file size limit (``ulimit -f``) in bytes, or None when there is none."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


class _Connection(sqlite3.Connection):
    """A connection whose disk and file-system failures raise StorageError, for reads and writes alike."""

    db_path: Path = Path(DB_FILENAME)

    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return storage_error(exc, self.db_path) or exc

    def cursor(self, factory=None):
        cur = super().cursor(factory or _Cursor)
        return cur

    def execute(self, *args):
        try:
            cur = self.cursor()
            return cur.execute(*args)
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def executemany(self, *args):
        try:
            cur = self.cursor()
            return cur.executemany(*args)
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None


class _Cursor(sqlite3.Cursor):
    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return storage_error(exc, getattr(self.connection, "db_path", Path(DB_FILENAME))) or exc

    def execute(self, *args):
        try:
            return super().execute(*args)
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def executemany(self, *args):
        try:
            return super().executemany(*args)
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def fetchone(self):
        try:
            return super().fetchone()
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def fetchall(self):
        try:
            return super().fetchall()
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def fetchmany(self, *args):
        try:
            return super().fetchmany(*args)
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None

    def __next__(self):
        try:
            return super().__next__()
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None


def new_store_id() -> str:
    import secrets  # only writers need it (it pulls in hashlib/hmac)

    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def _dt(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def store_sort_key(name: str) -> tuple[str, str]:
    """Fastly lists stores in a locale-like order: case-insensitive, punctuation ignored at first level."""
    return (re.sub(r"[^0-9a-z]", "", name.lower()), name)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (code point order = UTF-8 order)."""
    chars = list(prefix)
    while chars:
        c = ord(chars[-1])
        if c < 0x10FFFF:
            nxt = c + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return None


class Engine(ServicesMixin):
    """The embedded KV store. ``clock`` returns epoch seconds; tests pass a movable one to exercise TTLs."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        max_value_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.max_value_bytes = max_value_bytes
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        # Writers in this process take turns here instead of in SQLite's busy handler, which sleeps with back-off
        # and made many concurrent writers (a server under parallel deletes) several times slower.
        self._write_lock = threading.RLock()
        #: opened read-only (the data directory or the database cannot be written): every write is refused at once
        self.read_only = False
        self._uri: str | None = None  # a file: URI when opened read-only, else the plain path is used
        try:
            try:
                self._migrate()
            except StorageError as exc:
                if exc.storage != "read-only":
                    raise
                self.close()
                self._open_read_only()
        except StorageError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, disk I/O: not the file's content
                raise
            self.close()
            raise ConfigError(
                f"{self.path} is not a usable kvcli database ({exc})",
                "move the file away, or point KVCLI_DATA_DIR or the profile's data_dir elsewhere",
            ) from None

    # ----------------------------------------------------------------- plumbing
    @classmethod
    def in_dir(cls, data_dir: str | Path, **kwargs) -> Engine:
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if data_dir.is_dir():  # pragma: no cover - mkdir(exist_ok) only fails on a missing or odd directory
                raise
            import errno

            kinds = {
                errno.ENOSPC: "full", errno.EACCES: "read-only", errno.EPERM: "read-only", errno.EROFS: "read-only",
            }
            kind = kinds.get(exc.errno or 0, "io")
            raise StorageError(
                f"cannot create the data directory {data_dir}: {exc.strerror}",
                READ_ONLY_HINT if kind == "read-only" else "check the path and its file system",
                storage=kind,
            ) from None
        return cls(data_dir / DB_FILENAME, **kwargs)

    def _open_read_only(self) -> None:
        """Open a database that this user cannot write (a read-only directory or file system): reads work, writes
        are refused with a one-line read-only error.

        SQLite needs to create ``kvcli.db-shm`` to read a WAL database. Where it cannot, and no ``kvcli.db-wal``
        holds changes not yet in the main file (a cleanly closed database has none), the file is opened
        ``immutable``: nobody can be writing it, as a writer would have to create those files first. With a
        non-empty WAL beside it, SQLite's own read-only WAL mode is used (which needs a readable ``-shm``).
        """
        from urllib.parse import quote

        if not self.path.exists():
            raise StorageError(
                f"read-only data directory: cannot create the database {self.path}", READ_ONLY_HINT, storage="read-only"
            )
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            wal_has_data = wal.stat().st_size > 0
        except FileNotFoundError:
            wal_has_data = False
        self._uri = f"file:{quote(str(self.path.absolute()))}?" + ("mode=ro" if wal_has_data else "immutable=1")
        self.read_only = True
        try:
            conn = self.conn
            current = self._schema_is_current(conn)
        except StorageError:
            if not wal_has_data:
                raise
            self.close()
            raise StorageError(
                f"read-only database: {self.path} has changes in {wal.name} that SQLite can only read after creating "
                f"{self.path.name}-shm, which this user cannot do in {self.path.parent}",
                "open it once as a user who can write the directory, as any kvcli command folds those changes into "
                f"{self.path.name}, or make the directory writable",
                storage="read-only",
            ) from None
        if not current:
            raise StorageError(
                f"read-only database: {self.path} must be created or upgraded before use, and cannot be written",
                READ_ONLY_HINT,
                storage="read-only",
            )

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self._uri or self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                    factory=_Connection,
                    uri=self._uri is not None,
                )
            except sqlite3.OperationalError as exc:
                raise storage_error(exc, self.path) or exc from None
            conn.db_path = self.path
            if not self.read_only:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on any exception."""
        if self.read_only:
            raise StorageError(
                f"read-only database: {self.path} was opened read-only", READ_ONLY_HINT, storage="read-only"
            )
        conn = self.conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # After a full disk or an I/O error SQLite may already have rolled back: a ROLLBACK then fails with
                # "no transaction is active", which must not replace the error being raised.
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except (sqlite3.Error, StorageError):
                        pass
                raise

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL. SQLite answers "database is locked" to this pragma without calling the busy
        handler when another process is creating or converting the same file at that moment, so retry it here."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                transient = "locked" in str(exc) or "busy" in str(exc)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        if str(mode).lower() != "wal":  # pragma: no cover - only on filesystems without shared memory
            raise ConfigError(
                f"cannot use WAL mode for {self.path} (got {mode})", "put the data directory on a local disk"
            )

    def _schema_is_current(self, conn: sqlite3.Connection) -> bool:
        try:
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: a new database
            return False
        return row is not None and row[0] == str(len(MIGRATIONS))

    def _migrate(self) -> None:
        conn = self.conn
        self._enable_wal(conn)
        if self._schema_is_current(conn):
            return  # the usual case: opening takes no write lock, so a reader never waits for a writer here
        with self.write():
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise ConfigError(
                    f"database {self.path} has schema version {version}, newer than this kvcli understands "
                    f"({len(MIGRATIONS)})",
                    "upgrade kvcli",
                )
            for i in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[i]):
                    conn.execute(statement)
            if version != len(MIGRATIONS):
                conn.execute(
                    "INSERT INTO meta(name, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (str(len(MIGRATIONS)),),
                )

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        return int(row[0])

    def _now(self) -> float:
        return self.clock()

    def _next_generations(self, conn: sqlite3.Connection, count: int) -> int:
        """Reserve ``count`` generations (µs timestamps, strictly increasing across the database); return the first."""
        now_us = int(self._now() * 1_000_000)
        row = conn.execute("SELECT value FROM meta WHERE name = 'last_generation'").fetchone()
        last = int(row[0]) if row else 0
        first = max(now_us, last + 1)
        conn.execute(
            "INSERT INTO meta(name, value) VALUES ('last_generation', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (str(first + count - 1),),
        )
        return first

    # ------------------------------------------------------------------- stores
    def _row_to_store(self, row: tuple) -> Store:
        return Store(id=row[0], name=row[1], location=row[2], created_at=_dt(row[3]), updated_at=_dt(row[4]))

    def create_store(self, name: str, location: str | None = None) -> Store:
        validation.check_store_name(name)
        validation.check_location(location)
        now = int(self._now())
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM stores WHERE name = ?", (name,)).fetchone():
                raise InvalidInput(
                    f"a KV store named {name!r} already exists", "choose another name: store names are unique"
                )
            store_id = new_store_id()
            conn.execute(
                "INSERT INTO stores(id, name, location, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (store_id, name, location, now, now),
            )
        return Store(id=store_id, name=name, location=location, created_at=_dt(now), updated_at=_dt(now))

    def list_stores(self, cursor: str | None = None, limit: int | None = None) -> Page[Store]:
        limit = DEFAULT_LIST_LIMIT if limit is None else limit
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        rows = self.conn.execute("SELECT id, name, location, created_at, updated_at FROM stores").fetchall()
        stores = sorted((self._row_to_store(r) for r in rows), key=lambda s: store_sort_key(s.name))
        if cursor:
            try:
                after = store_sort_key(decode_cursor(cursor))
            except ValueError as exc:
                raise InvalidInput(f"invalid cursor: {exc}", "pass a cursor from a previous listing") from None
            stores_after = [s for s in stores if store_sort_key(s.name) > after]
        else:
            stores_after = stores
        page = stores_after[:limit]
        more = len(stores_after) > limit
        return Page(items=page, next_cursor=encode_cursor(page[-1].name) if more else None, total=len(stores))

    def get_store(self, store_id: str) -> Store:
        row = self.conn.execute(
            "SELECT id, name, location, created_at, updated_at FROM stores WHERE id = ?", (store_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"KV store {store_id!r} not found", "run 'kvcli kv-store list' to see the store IDs")
        return self._row_to_store(row)

    def find_store(self, name: str) -> Store:
        row = self.conn.execute(
            "SELECT id, name, location, created_at, updated_at FROM stores WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no KV store named {name!r}", "run 'kvcli kv-store list' to see the store names")
        return self._row_to_store(row)

    def rename_store(self, store_id: str, name: str) -> Store:
        validation.check_store_name(name)
        with self.write() as conn:
            self._require_store(conn, store_id)
            other = conn.execute("SELECT id FROM stores WHERE name = ?", (name,)).fetchone()
            if other and other[0] != store_id:
                raise InvalidInput(f"a KV store named {name!r} already exists", "choose another name")
            conn.execute(
                "UPDATE stores SET name = ?, updated_at = ? WHERE id = ?", (name, int(self._now()), store_id)
            )
        return self.get_store(store_id)

    def delete_store(self, store_id: str) -> None:
        now = self._now()
        with self.write() as conn:
            self._require_store(conn, store_id)
            live = conn.execute(
                "SELECT count(*) FROM items WHERE store_id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (store_id, now),
            ).fetchone()[0]
            if live:
                raise Conflict(
                    f"KV store {store_id!r} is not empty ({live} keys)", "delete its keys first",
                    reason="store_not_empty",
                )
            self._before_store_delete(conn, store_id)
            conn.execute("DELETE FROM items WHERE store_id = ?", (store_id,))
            conn.execute("DELETE FROM stores WHERE id = ?", (store_id,))

    def check_store_deletable(self, store_id: str) -> bool:
        """Raise what :meth:`delete_store` would raise for a reason other than the store's keys (a missing store, a
        link from a service version), changing nothing; True (every reason was checked). ``kv-store delete --all``
        calls it before deleting any key."""
        if self.read_only:
            raise StorageError(
                f"read-only database: {self.path} was opened read-only", READ_ONLY_HINT, storage="read-only"
            )
        conn = self.conn
        conn.execute("BEGIN")  # one consistent snapshot for every check
        try:
            self._require_store(conn, store_id)
            self._before_store_delete(conn, store_id)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return True

    def _before_store_delete(self, conn: sqlite3.Connection, store_id: str) -> None:
        """Hook for checks that must pass before a store is deleted (resource links add one)."""
        self._check_store_unlinked(conn, store_id)

    def _require_store(self, conn: sqlite3.Connection, store_id: str) -> None:
        if conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone() is None:
            raise NotFound(f"KV store {store_id!r} not found", "run 'kvcli kv-store list' to see the store IDs")

    # -------------------------------------------------------------------- items
    def _validate_entry(self, key: str, metadata: str | None, ttl: int | None) -> None:
        validation.check_key(key)
        validation.check_metadata(metadata)
        validation.check_ttl(ttl)

    def put_item(
        self,
        store_id: str,
        key: str,
        value: bytes,
        *,
        metadata: str | None = None,
        ttl: int | None = None,
        mode: PutMode = PutMode.UPSERT,
        if_generation_match: int | None = None,
        background_fetch: bool = False,
    ) -> int:
        """Write one item and return its new generation."""
        self._validate_entry(key, metadata, ttl)
        value = bytes(value)
        limit = self.max_value_bytes
        validation.check_value_size(len(value), limit)
        now = self._now()
        with self.write() as conn:
            self._require_store(conn, store_id)
            row = conn.execute(
                "SELECT generation, expires_at FROM items WHERE store_id = ? AND key = ?", (store_id, key)
            ).fetchone()
            if row is not None and row[1] is not None and row[1] <= now:
                conn.execute("DELETE FROM items WHERE store_id = ? AND key = ?", (store_id, key))
                row = None
            current = row[0] if row else None
            if mode is PutMode.ADD and current is not None:
                raise PreconditionFailed(
                    f"key {key!r} already exists (generation {current})",
                    "write it without the add mode to overwrite it", reason="key_exists",
                )
            if if_generation_match is not None:
                if if_generation_match == 0 and current is not None:
                    raise PreconditionFailed(
                        f"key {key!r} already exists (generation {current}); if-generation-match 0 needs a new key",
                        "pass the key's current generation, or write without if-generation-match",
                        reason="generation_not_new",
                    )
                if if_generation_match != 0 and current != if_generation_match:
                    now_is = "does not exist" if current is None else f"is at generation {current}"
                    raise PreconditionFailed(
                        f"generation mismatch for key {key!r}: expected {if_generation_match}, the key {now_is}",
                        "read the key's current generation with 'kv-store-entry describe' and try again",
                    )
            if mode in (PutMode.APPEND, PutMode.PREPEND) and current is not None:
                old = conn.execute(
                    "SELECT value FROM items WHERE store_id = ? AND key = ?", (store_id, key)
                ).fetchone()[0]
                value = bytes(old) + value if mode is PutMode.APPEND else value + bytes(old)
                validation.check_value_size(len(value), limit)
            gen = self._next_generations(conn, 1)
            self._upsert(conn, store_id, key, value, metadata or "", gen, now, ttl)
        return gen

    @staticmethod
    def _upsert(
        conn: sqlite3.Connection,
        store_id: str,
        key: str,
        value: bytes,
        metadata: str,
        gen: int,
        now: float,
        ttl: int | None,
    ) -> None:
        conn.execute(
            "INSERT INTO items(store_id, key, metadata, generation, size, last_modified, expires_at, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(store_id, key) DO UPDATE SET "
            "metadata = excluded.metadata, generation = excluded.generation, size = excluded.size, "
            "last_modified = excluded.last_modified, expires_at = excluded.expires_at, value = excluded.value",
            (store_id, key, metadata, gen, len(value), int(now * 1_000_000), now + ttl if ttl else None, value),
        )

    def _info(self, key: str, row: tuple) -> ItemInfo:
        metadata, generation, size, last_modified, expires_at = row[:5]
        return ItemInfo(
            key=key,
            generation=generation,
            metadata=metadata,
            size=size,
            last_modified=_dt(last_modified / 1_000_000),
            expires_at=_dt(expires_at),
        )

    #: an item and its store in one statement (one snapshot): no row when the store is missing, a row of NULLs when
    #: the key is (a read transaction around two statements cost twice the query itself)
    _LIVE_ROW_SQL = (
        "SELECT i.metadata, i.generation, i.size, i.last_modified, i.expires_at{value} FROM stores s "
        "LEFT JOIN items i ON i.store_id = s.id AND i.key = ? AND (i.expires_at IS NULL OR i.expires_at > ?) "
        "WHERE s.id = ?"
    )
    _LIVE_ROW = {True: _LIVE_ROW_SQL.format(value=", i.value"), False: _LIVE_ROW_SQL.format(value="")}

    def _live_row(self, store_id: str, key: str, with_value: bool) -> tuple:
        row = self.conn.execute(self._LIVE_ROW[with_value], (key, self._now(), store_id)).fetchone()
        if row is None:
            raise NotFound(f"KV store {store_id!r} not found", "run 'kvcli kv-store list' to see the store IDs")
        if row[1] is None:  # generation is NOT NULL in a real row
            raise NotFound(
                f"key {key!r} not found in KV store {store_id!r}", "check the key with 'kv-store-entry list'"
            )
        return row

    def get_item(self, store_id: str, key: str) -> Item:
        row = self._live_row(store_id, key, with_value=True)
        return Item(info=self._info(key, row), value=bytes(row[5]))

    def describe_item(self, store_id: str, key: str) -> ItemInfo:
        """Everything about an item except its value, which is not read."""
        return self._info(key, self._live_row(store_id, key, with_value=False))

    def get_items(self, store_id: str, keys: list[str]) -> list[Item | None]:
        """Many items in one read transaction (None for a key that does not exist or has expired), in the order of
        ``keys``: what a copy or a diff reads from the embedded backend, instead of one transaction per key."""
        out: dict[str, Item] = {}
        conn = self.conn
        conn.execute("BEGIN")
        try:
            self._require_store(conn, store_id)
            now = self._now()
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                for row in conn.execute(
                    "SELECT key, metadata, generation, size, last_modified, expires_at, value FROM items "
                    f"WHERE store_id = ? AND key IN ({marks}) AND (expires_at IS NULL OR expires_at > ?)",
                    (store_id, *part, now),
                ):
                    out[row[0]] = Item(info=self._info(row[0], row[1:6]), value=bytes(row[6]))
        finally:
            conn.execute("COMMIT")
        return [out.get(k) for k in keys]

    def list_keys(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[str]:
        if consistency not in ("strong", "eventual"):
            raise InvalidInput(f"invalid consistency {consistency!r}", "use 'strong' or 'eventual'")
        limit = DEFAULT_LIST_LIMIT if limit is None else limit
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        after: str | None = None
        if cursor:
            try:
                after = decode_cursor(cursor)
            except ValueError as exc:
                raise InvalidInput(f"invalid cursor: {exc}", "pass a cursor printed by a previous listing") from None
        sql = "SELECT key FROM items WHERE store_id = ? AND (expires_at IS NULL OR expires_at > ?)"
        args: list = [store_id, self._now()]
        if prefix:
            sql += " AND key >= ?"
            args.append(prefix)
            upper = _prefix_upper_bound(prefix)
            if upper is not None:
                sql += " AND key < ?"
                args.append(upper)
        if after is not None:
            sql += " AND key > ?"
            args.append(after)
        sql += " ORDER BY key LIMIT ?"
        args.append(min(limit, _SQL_LIMIT_MAX) + 1)  # one more row tells whether another page follows
        conn = self.conn
        keys = [r[0] for r in conn.execute(sql, args)]
        if not keys:
            # keys are only ever listed in a store that exists (deleting a store deletes its keys in the same
            # transaction), so only an empty page needs the store check: it sees a later snapshot, in which an empty
            # store may have been deleted since, and then says so
            self._require_store(conn, store_id)
        more = len(keys) > limit
        keys = keys[:limit]
        return Page(items=keys, next_cursor=encode_cursor(keys[-1]) if more else None)

    def list_items(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[ItemInfo]:
        """``list_keys`` with every key's describe fields, read in the same single query (values are not read)."""
        if consistency not in ("strong", "eventual"):
            raise InvalidInput(f"invalid consistency {consistency!r}", "use 'strong' or 'eventual'")
        limit = DEFAULT_LIST_LIMIT if limit is None else limit
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        after: str | None = None
        if cursor:
            try:
                after = decode_cursor(cursor)
            except ValueError as exc:
                raise InvalidInput(f"invalid cursor: {exc}", "pass a cursor printed by a previous listing") from None
        sql = (
            "SELECT key, metadata, generation, size, last_modified, expires_at FROM items "
            "WHERE store_id = ? AND (expires_at IS NULL OR expires_at > ?)"
        )
        args: list = [store_id, self._now()]
        if prefix:
            sql += " AND key >= ?"
            args.append(prefix)
            upper = _prefix_upper_bound(prefix)
            if upper is not None:
                sql += " AND key < ?"
                args.append(upper)
        if after is not None:
            sql += " AND key > ?"
            args.append(after)
        sql += " ORDER BY key LIMIT ?"
        args.append(min(limit, _SQL_LIMIT_MAX) + 1)  # one more row tells whether another page follows
        conn = self.conn
        conn.execute("BEGIN")
        try:
            self._require_store(conn, store_id)
            rows = conn.execute(sql, args).fetchall()
        finally:
            conn.execute("COMMIT")
        more = len(rows) > limit
        rows = rows[:limit]
        items = [self._info(row[0], row[1:]) for row in rows]
        return Page(items=items, next_cursor=encode_cursor(rows[-1][0]) if more else None)

    def delete_item(
        self, store_id: str, key: str, *, force: bool = False, if_generation_match: int | None = None
    ) -> None:
        now = self._now()
        with self.write() as conn:
            self._require_store(conn, store_id)
            row = conn.execute(
                "SELECT generation, expires_at FROM items WHERE store_id = ? AND key = ?", (store_id, key)
            ).fetchone()
            live = row is not None and (row[1] is None or row[1] > now)
            if not live:
                if row is not None:
                    conn.execute("DELETE FROM items WHERE store_id = ? AND key = ?", (store_id, key))
                if force:
                    return
                raise NotFound(f"key {key!r} not found in KV store {store_id!r}",
                               "a forced delete ignores missing keys", reason="key_missing")
            if if_generation_match is not None and row[0] != if_generation_match:
                raise PreconditionFailed(
                    f"generation mismatch for key {key!r}: expected {if_generation_match}, "
                    f"the key is at generation {row[0]}",
                    "read the key's current generation with 'kv-store-entry describe' and try again",
                )
            conn.execute("DELETE FROM items WHERE store_id = ? AND key = ?", (store_id, key))

    def put_batch(self, store_id: str, entries: Iterable[BatchEntry]) -> BatchResult:
        """Write entries in one transaction. Invalid entries are reported by index; valid ones are written."""
        result = BatchResult()
        now = self._now()
        limit = self.max_value_bytes if self.max_value_bytes is not None else validation.max_value_bytes()
        good: list[BatchEntry] = []
        for index, entry in enumerate(entries):
            problem = (
                validation.key_problem(entry.key)
                or validation.metadata_problem(entry.metadata)
                or (None if len(entry.value) <= limit else f"value is {len(entry.value)} bytes; the limit is {limit}")
            )
            if problem is None and entry.ttl is not None:
                try:
                    validation.check_ttl(entry.ttl)
                except InvalidInput as exc:
                    problem = exc.message
            if problem:
                result.errors.append(BatchError(index=index, key=entry.key, code="400", reason=problem))
            else:
                good.append(entry)
        with self.write() as conn:
            self._require_store(conn, store_id)
            if good:
                gen = self._next_generations(conn, len(good))
                rows = [
                    (
                        store_id,
                        e.key,
                        e.metadata or "",
                        gen + i,
                        len(e.value),
                        int(now * 1_000_000),
                        now + e.ttl if e.ttl else None,
                        e.value,
                    )
                    for i, e in enumerate(good)
                ]
                conn.executemany(
                    "INSERT INTO items(store_id, key, metadata, generation, size, last_modified, expires_at, value) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(store_id, key) DO UPDATE SET "
                    "metadata = excluded.metadata, generation = excluded.generation, size = excluded.size, "
                    "last_modified = excluded.last_modified, expires_at = excluded.expires_at, value = excluded.value",
                    rows,
                )
        result.written = len(good)
        return result

    def purge_expired(self) -> int:
        """Physically remove expired items (reads already hide them). Returns how many were removed."""
        with self.write() as conn:
            cur = conn.execute("DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (self._now(),))
            return cur.rowcount

    def delete_many(self, store_id: str, keys: list[str]) -> list[tuple[str, Exception | None]]:
        """Delete keys in one transaction (missing keys count as deleted). Used by bulk deletion."""
        with self.write() as conn:
            self._require_store(conn, store_id)
            conn.executemany("DELETE FROM items WHERE store_id = ? AND key = ?", [(store_id, k) for k in keys])
        return [(k, None) for k in keys]
