"""The engine's SQLite connections: disk and file-system failures raise one-line StorageError, not sqlite3's."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kvcli.api.errors import StorageError

DB_FILENAME = "kvcli.db"

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

