"""The embedded engine's schema: the migrations, applied in order by :meth:`Engine._migrate`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from kvcli.local.services_common import DELETED_SERVICES_MIGRATION, SERVICES_MIGRATION

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
    SERVICES_MIGRATION,  # 1 → 2: services, service_versions, resource_links (kvcli/local/services_common.py)
    DELETED_SERVICES_MIGRATION,  # 2 → 3: deleted_services (kvcli/local/services_common.py)
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

