"""The rows of a batch write in one SQL statement (used by :meth:`kvcli.local.engine_items.ItemsMixin.put_batch`).

``executemany`` runs one SQLite step per row and releases the GIL around each: with another thread busy in Python
(the server parsing the next request), every row then waits up to the interpreter's switch interval to get the GIL
back, and a 1,000-row batch can take seconds instead of milliseconds. Here the rows go in as one JSON array (keys,
metadata, sizes, TTLs) and one BLOB (the values end to end), and a single ``INSERT … SELECT … FROM json_each(?)``
writes them all: one step, one release of the GIL, and less Python per row. SQLite without JSON functions, or rows
that JSON would not carry exactly (a NUL character), take ``executemany``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from kvcli.api.models import BatchEntry

_UPSERT = (
    " ON CONFLICT(store_id, key) DO UPDATE SET metadata = excluded.metadata, generation = excluded.generation, "
    "size = excluded.size, last_modified = excluded.last_modified, expires_at = excluded.expires_at, "
    "value = excluded.value"
)
_COLUMNS = "INSERT INTO items(store_id, key, metadata, generation, size, last_modified, expires_at, value) "
#: ?1 store, ?2 first generation, ?3 last_modified (µs), ?4 now (s), ?5 the values end to end, ?6 the rows as JSON
#: ``[[key, metadata, offset, size, ttl or null], ...]``; the expiry is computed as ``now + ttl`` in SQLite, the same
#: double addition as in Python, and the generation of row i is ``first + i`` (json_each's key is the array index)
_ONE_STATEMENT = (
    _COLUMNS
    + "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), ?2 + j.key, "
    "json_extract(j.value, '$[3]'), ?3, ?4 + json_extract(j.value, '$[4]'), "
    "CASE json_extract(j.value, '$[3]') WHEN 0 THEN x'' "  # substr() of an empty BLOB is NULL, not x''
    "ELSE substr(?5, json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]')) END "
    "FROM json_each(?6) AS j WHERE true" + _UPSERT
)
_PER_ROW = _COLUMNS + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + _UPSERT

class CheckedEntry(BatchEntry):
    """A batch entry read from a plain batch line (:mod:`kvcli.api.plain`): its key is valid by every key rule and
    it has no metadata or TTL, so :meth:`~kvcli.local.engine_items.ItemsMixin.put_batch` checks only its size."""


_json_works: bool | None = None  # whether this SQLite has json_each and json_extract (checked once)


def _has_json(conn: sqlite3.Connection) -> bool:
    global _json_works
    if _json_works is None:
        try:
            row = conn.execute("SELECT json_extract(value, '$[0]') FROM json_each('[[7]]')").fetchone()
            _json_works = row == (7,)
        except sqlite3.Error:
            _json_works = False
    return _json_works


#: a batch's rows ready for the one statement: the JSON text and the values BLOB (None: they take ``executemany``)
Prepared = tuple[str, bytes] | None


def prepare_rows(conn: sqlite3.Connection, entries: Sequence[BatchEntry]) -> Prepared:
    """The JSON text and values BLOB of :data:`_ONE_STATEMENT` for ``entries``, made before the write lock is taken
    (they need no database state), or None where the rows take ``executemany``."""
    if len(entries) <= 1 or not _has_json(conn):
        return None
    rows = []
    offset = 1  # substr() counts from 1
    for e in entries:
        n = len(e.value)
        rows.append((e.key, e.metadata or "", offset, n, e.ttl or None))
        offset += n
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" in text:  # JSON would carry a NUL, but SQLite's text functions may cut the string there
        return None
    return text, b"".join(e.value for e in entries)


def insert_rows(
    conn: sqlite3.Connection,
    store_id: str,
    entries: Sequence[BatchEntry],
    first_generation: int,
    now: float,
    prepared: Prepared,
) -> None:
    """Upsert ``entries`` (already validated) into ``store_id``, generations ``first_generation`` + their index, in
    the caller's transaction. Later entries for the same key win, as in a loop of single writes. ``prepared`` is
    what :func:`prepare_rows` made of ``entries``."""
    modified = int(now * 1_000_000)
    if prepared is not None:
        text, values = prepared
        conn.execute(_ONE_STATEMENT, (store_id, first_generation, modified, now, values, text))
        return
    conn.executemany(
        _PER_ROW,
        [
            (store_id, e.key, e.metadata or "", first_generation + i, len(e.value), modified,
             now + e.ttl if e.ttl else None, e.value)
            for i, e in enumerate(entries)
        ],
    )
