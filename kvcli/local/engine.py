"""The embedded KV engine: one SQLite file (WAL), safe to share between several kvcli processes.

Every refusal is a typed error from :mod:`kvcli.api.errors`; the engine knows nothing of HTTP or of the CLI.
Connections are per thread, writes run in ``BEGIN IMMEDIATE`` transactions, and ``busy_timeout`` makes concurrent
writers wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from kvcli.api.errors import ConfigError, StorageError
from kvcli.local.engine_db import (
    DB_FILENAME,
    READ_ONLY_HINT,
    _Connection,
    storage_error,
)
from kvcli.local.engine_items import ItemsMixin
from kvcli.local.engine_schema import MIGRATIONS, _statements
from kvcli.local.engine_stores import StoresMixin, new_store_id, store_sort_key  # noqa: F401 - re-exported
from kvcli.local.services import ServicesMixin

if TYPE_CHECKING:
    from kvcli.local.batch_writer import BatchWriterProcess

BUSY_TIMEOUT_MS = 60_000

#: SQLite >= 3.35 has RETURNING: the store check and the generation reservation of a batch chunk are one statement
#: (?1 now in µs, ?2 how many, ?3 the store): no row of the store, nothing inserted or updated and no row returned.
#: The value is stored as text, as :meth:`Engine._next_generations` stores it (meta.value is TEXT).
_RETURNING_WORKS = sqlite3.sqlite_version_info >= (3, 35, 0)
_RESERVE_IN_STORE = (
    "INSERT INTO meta(name, value) SELECT 'last_generation', CAST(?1 + ?2 - 1 AS TEXT) FROM stores WHERE id = ?3 "
    "ON CONFLICT(name) DO UPDATE SET value = CAST(max(?1, CAST(value AS INTEGER) + 1) + ?2 - 1 AS TEXT) "
    "RETURNING value"
)


class Engine(StoresMixin, ItemsMixin, ServicesMixin):
    """The embedded KV store. ``clock`` returns epoch seconds; tests pass a movable one to exercise TTLs."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        max_value_bytes: int | None = None,
        batch_writer: bool = False,
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
        #: with ``batch_writer``: the child process that runs batch chunks' SQL (see kvcli.local.batch_writer)
        self.batch_writer: BatchWriterProcess | None = None
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
        if batch_writer and not self.read_only:
            from kvcli.local.batch_writer import BatchWriterProcess

            self.batch_writer = BatchWriterProcess(self.path)

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
        """Close this process's connections (a later call opens new ones) and stop the batch writer process."""
        if self.batch_writer is not None:
            self.batch_writer.close()
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
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on any exception. With a batch
        writer process, it waits for the chunks sent to the child, and none is sent until it ends."""
        if self.read_only:
            raise StorageError(
                f"read-only database: {self.path} was opened read-only", READ_ONLY_HINT, storage="read-only"
            )
        conn = self.conn
        writer = self.batch_writer
        with writer.exclusive() if writer is not None else nullcontext(), self._write_lock:
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

    @contextmanager
    def batch_request(self) -> Iterator[None]:
        """Brackets one batch request of ``local serve``: while two or more overlap, their chunks are written by
        the batch writer process (see :meth:`_write_in_child`). Does nothing without one."""
        writer = self.batch_writer
        if writer is None:
            yield
            return
        writer.requests.enter()
        try:
            writer.warm()
            yield
        finally:
            writer.requests.leave()

    def _write_in_child(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> bool:
        """Write a prepared batch chunk in the batch writer process when batch requests overlap; True when it was
        written there, False when the caller writes it in this process (no overlap, no writer, or none working).

        Overlapping requests parse in this process's threads while the child runs the SQL, which then never waits
        for this process's GIL. A lone request (one streamed batch) is written here: for it the child would only
        add a hand-over and two wake-ups per chunk. This process's own write transactions wait for the chunks
        sent to the child and hold back new ones (:meth:`write`), so the two sides take turns here, not in SQLite's
        busy handler.
        """
        writer = self.batch_writer
        if writer is None or writer.requests.count < 2 or not writer.working:  # (none on a read-only engine)
            return False
        return writer.write(store_id, count, now, prepared)

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

    def _next_generations_in_store(self, conn: sqlite3.Connection, store_id: str, count: int) -> int:
        """:meth:`_next_generations` and :meth:`_require_store` in one statement: ``count`` generations reserved if
        ``store_id`` exists, else NotFound and nothing reserved (a batch chunk runs this, then its INSERT)."""
        if not _RETURNING_WORKS:
            self._require_store(conn, store_id)
            return self._next_generations(conn, count)
        rows = conn.execute(_RESERVE_IN_STORE, (int(self._now() * 1_000_000), count, store_id)).fetchall()
        if not rows:
            self._require_store(conn, store_id)  # raises NotFound: no store row, so nothing was reserved
            raise AssertionError("the generation reservation returned no row")  # pragma: no cover
        return int(rows[0][0]) - count + 1

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

