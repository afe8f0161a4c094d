"""Items in the embedded engine (mixed into :class:`~kvcli.local.engine.Engine`): put, get, list, delete, batches."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from kvcli.api import validation
from kvcli.api.errors import InvalidInput, NotFound, PreconditionFailed
from kvcli.api.models import BatchEntry, BatchError, BatchResult, Item, ItemInfo, Page, PutMode
from kvcli.api.wire import DEFAULT_LIST_LIMIT, decode_cursor, encode_cursor
from kvcli.local.engine_batch import CheckedEntry, Prepared, insert_rows, prepare_rows
from kvcli.local.engine_stores import _dt

#: a page limit past SQLite's 64-bit integers (``?limit=9223372036854775807``) asks for every row, not an overflow
_SQL_LIMIT_MAX = 2**62


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



class ItemsMixin:
    """The item half of the engine. Needs the engine's ``conn``, ``write``, ``_now``, ``_next_generations``,
    ``_next_generations_in_store``, ``_write_in_child``, ``max_value_bytes`` and the stores' ``_require_store``."""

    if TYPE_CHECKING:  # provided by Engine

        max_value_bytes: int | None

        @property
        def conn(self) -> sqlite3.Connection: ...

        write: Callable[[], AbstractContextManager[sqlite3.Connection]]

        def _now(self) -> float: ...

        def _next_generations(self, conn: sqlite3.Connection, count: int) -> int: ...

        def _next_generations_in_store(self, conn: sqlite3.Connection, store_id: str, count: int) -> int: ...

        def _require_store(self, conn: sqlite3.Connection, store_id: str) -> None: ...

        def _write_in_child(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> bool: ...

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

    def _page_query(
        self, columns: str, store_id: str, prefix: str | None, cursor: str | None, limit: int | None,
        consistency: str,
    ) -> tuple[str, list, int]:
        """(sql, args, limit) of one page of live keys in key order: ``columns`` of at most ``limit`` + 1 rows (the
        extra row tells whether another page follows). The checks of the arguments are the same for every listing."""
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
        sql = f"SELECT {columns} FROM items WHERE store_id = ? AND (expires_at IS NULL OR expires_at > ?)"
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
        args.append(min(limit, _SQL_LIMIT_MAX) + 1)
        return sql, args, limit

    def list_keys(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[str]:
        sql, args, limit = self._page_query("key", store_id, prefix, cursor, limit, consistency)
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

    def item_rows(
        self, store_id: str, prefix: str | None = None, after: str | None = None, limit: int = 1000
    ) -> tuple[list[tuple[str, str, float | None, bytes]], bool]:
        """One page of live items in key order, values included, in one query (one snapshot): rows of ``(key,
        metadata, expires_at, value)`` (metadata ``''`` when there is none, expires_at in epoch seconds or None) for
        the keys after ``after`` (under ``prefix``), and whether more follow. What a copy reads from the embedded
        backend: one query per page instead of a key listing plus a read per group of keys, and plain rows instead
        of :class:`Item` objects, since most go straight onto the wire."""
        cursor = encode_cursor(after) if after is not None else None
        sql, args, limit = self._page_query("key, metadata, expires_at, value", store_id, prefix, cursor, limit,
                                            "strong")
        conn = self.conn
        rows = conn.execute(sql, args).fetchall()
        if not rows:  # as in list_keys: only an empty page needs the store check
            self._require_store(conn, store_id)
        more = len(rows) > limit
        return (rows[:limit] if more else rows), more

    def list_items(
        self,
        store_id: str,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        consistency: str = "strong",
    ) -> Page[ItemInfo]:
        """``list_keys`` with every key's describe fields, read in the same single query (values are not read)."""
        sql, args, limit = self._page_query(
            "key, metadata, generation, size, last_modified, expires_at", store_id, prefix, cursor, limit, consistency
        )
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
            if type(entry) is CheckedEntry and len(entry.value) <= limit:  # a plain line: nothing else to check
                good.append(entry)
                continue
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
        # the rows' JSON and values BLOB need no database state: made before the write lock is taken, so that the
        # lock is held for the SQL only (while one chunk's SQL runs, another request's chunk is prepared)
        prepared = prepare_rows(self.conn, good) if good else None
        if prepared is None or not self._write_in_child(store_id, len(good), now, prepared):
            self.write_rows(store_id, len(good), good, now, prepared)
        result.written = len(good)
        return result

    def write_rows(
        self, store_id: str, count: int, entries: Sequence[BatchEntry], now: float, prepared: Prepared
    ) -> int | None:
        """One transaction writing ``count`` validated rows into ``store_id``: ``prepared`` (from prepare_rows), or
        ``entries`` where it is None. Returns the first row's generation (None for no rows). The batch writer
        process writes its chunks with this too."""
        with self.write() as conn:
            if not count:
                self._require_store(conn, store_id)
                return None
            first = self._next_generations_in_store(conn, store_id, count)  # and the store check, in one statement
            insert_rows(conn, store_id, entries, first, now, prepared)
        return first

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
