"""KV stores in the embedded engine (mixed into :class:`~kvcli.local.engine.Engine`): create, list, rename, delete."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kvcli.api import validation
from kvcli.api.errors import Conflict, InvalidInput, NotFound, StorageError
from kvcli.api.models import Page, Store
from kvcli.api.wire import DEFAULT_LIST_LIMIT, decode_cursor, encode_cursor
from kvcli.local.engine_db import READ_ONLY_HINT

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


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



class StoresMixin:
    """The KV-store half of the engine. Needs the engine's ``conn``, ``write``, ``_now``, ``path``, ``read_only`` and
    the services' ``_check_store_unlinked``."""

    if TYPE_CHECKING:  # provided by Engine

        path: Path
        read_only: bool

        @property
        def conn(self) -> sqlite3.Connection: ...

        write: Callable[[], AbstractContextManager[sqlite3.Connection]]

        def _now(self) -> float: ...

        def _check_store_unlinked(self, conn: sqlite3.Connection, store_id: str) -> None: ...

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

