"""Resource links in the embedded engine: a KV store attached to a service version under a link name (mixed into
:class:`~kvcli.local.engine.Engine` through :class:`~kvcli.local.services.ServicesMixin`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from kvcli.api.errors import Conflict, InvalidInput
from kvcli.api.models import RESOURCE_TYPE_KV, ResourceLink, Version
from kvcli.local.services_common import (
    _LINK_COLS,
    _check_name,
    _link_not_found,
    _store_not_found,
    _ts,
    new_fastly_id,
)


class LinksMixin:
    """The resource-link part of the services half. Needs the engine's ``write`` and ``_now``, and the services'
    ``_read``, ``_require_version``, ``_require_editable`` and ``_touch_service``."""

    if TYPE_CHECKING:  # provided by Engine and ServicesMixin

        write: Callable[[], AbstractContextManager[sqlite3.Connection]]

        def _now(self) -> float: ...

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _require_version(self, conn: sqlite3.Connection, service_id: str, number: int) -> Version: ...

        def _require_editable(self, conn: sqlite3.Connection, service_id: str, number: int) -> Version: ...

        def _touch_service(self, conn: sqlite3.Connection, service_id: str, now: int) -> None: ...

    @staticmethod
    def _row_to_link(row: tuple) -> ResourceLink:
        return ResourceLink(
            id=row[0],
            name=row[1],
            resource_id=row[2],
            resource_type=row[3],
            service_id=row[4],
            version=row[5],
            created_at=_ts(row[6]),
            updated_at=_ts(row[7]),
        )

    # ------------------------------------------------------- resource links
    def _require_link(self, conn: sqlite3.Connection, service_id: str, number: int, link_id: str) -> ResourceLink:
        row = conn.execute(
            f"SELECT {_LINK_COLS} FROM resource_links WHERE service_id = ? AND version = ? AND id = ?",
            (service_id, number, link_id),
        ).fetchone()
        if row is None:
            self._require_version(conn, service_id, number)
            raise _link_not_found(service_id, number, link_id)
        return self._row_to_link(row)

    def _store_name(self, conn: sqlite3.Connection, resource_id: str) -> str:
        row = conn.execute("SELECT name FROM stores WHERE id = ?", (resource_id,)).fetchone()
        if row is None:
            raise _store_not_found(resource_id)
        return row[0]

    def _check_unique_link_name(
        self, conn: sqlite3.Connection, service_id: str, number: int, name: str, except_id: str | None = None
    ) -> None:
        row = conn.execute(
            "SELECT id FROM resource_links WHERE service_id = ? AND version = ? AND name = ?",
            (service_id, number, name),
        ).fetchone()
        if row is not None and row[0] != except_id:
            raise Conflict(
                f"version {number} of service {service_id} already has a resource link named {name!r} ({row[0]})",
                "choose another name: link names are unique within a version",
                title="Duplicate record",
                reason="link_name_taken",
                detail=f"Duplicate resource link: '{name}'",
            )

    def create_link(self, service_id: str, version: int, resource_id: str, name: str | None = None) -> ResourceLink:
        """Link a KV store to an editable version. The link name defaults to the store's name."""
        now = int(self._now())
        with self.write() as conn:
            self._require_editable(conn, service_id, version)
            if not resource_id:
                raise InvalidInput("no resource ID given", "give the ID of the KV store to link",
                                   reason="link_resource_missing")
            store_name = self._store_name(conn, resource_id)
            name = name or store_name
            _check_name("resource link", name)
            self._check_unique_link_name(conn, service_id, version, name)
            link_id = new_fastly_id()
            conn.execute(
                "INSERT INTO resource_links(service_id, version, id, name, resource_id, resource_type, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (service_id, version, link_id, name, resource_id, RESOURCE_TYPE_KV, now, now),
            )
            self._touch_service(conn, service_id, now)
            return self._require_link(conn, service_id, version, link_id)

    def list_links(self, service_id: str, version: int) -> list[ResourceLink]:
        with self._read() as conn:
            self._require_version(conn, service_id, version)
            rows = conn.execute(
                f"SELECT {_LINK_COLS} FROM resource_links WHERE service_id = ? AND version = ? "
                "ORDER BY created_at, name",
                (service_id, version),
            ).fetchall()
            return [self._row_to_link(r) for r in rows]

    def get_link(self, service_id: str, version: int, link_id: str) -> ResourceLink:
        with self._read() as conn:
            return self._require_link(conn, service_id, version, link_id)

    def update_link(
        self, service_id: str, version: int, link_id: str, name: str | None = None, resource_id: str | None = None
    ) -> ResourceLink:
        """Rename a link (and/or point it at another store) on an editable version."""
        now = int(self._now())
        with self.write() as conn:
            self._require_editable(conn, service_id, version)
            link = self._require_link(conn, service_id, version, link_id)
            new_name = link.name if name is None else name
            new_resource = link.resource_id if resource_id is None else resource_id
            _check_name("resource link", new_name)
            if new_resource != link.resource_id:
                self._store_name(conn, new_resource)
            self._check_unique_link_name(conn, service_id, version, new_name, except_id=link_id)
            conn.execute(
                "UPDATE resource_links SET name = ?, resource_id = ?, updated_at = ? "
                "WHERE service_id = ? AND version = ? AND id = ?",
                (new_name, new_resource, now, service_id, version, link_id),
            )
            self._touch_service(conn, service_id, now)
            return self._require_link(conn, service_id, version, link_id)

    def delete_link(self, service_id: str, version: int, link_id: str) -> None:
        now = int(self._now())
        with self.write() as conn:
            self._require_editable(conn, service_id, version)
            self._require_link(conn, service_id, version, link_id)
            conn.execute(
                "DELETE FROM resource_links WHERE service_id = ? AND version = ? AND id = ?",
                (service_id, version, link_id),
            )
            self._touch_service(conn, service_id, now)

    # ----------------------------------------------------- store deletion
    def _check_store_unlinked(self, conn: sqlite3.Connection, store_id: str) -> None:
        """Refuse to delete a store linked from a version that is active or still editable (see module doc)."""
        rows = conn.execute(
            "SELECT l.service_id, l.version, l.id, l.name, v.active FROM resource_links l "
            "JOIN service_versions v ON v.service_id = l.service_id AND v.number = l.version "
            "WHERE l.resource_id = ? AND (v.active = 1 OR v.locked = 0) ORDER BY l.service_id, l.version",
            (store_id,),
        ).fetchall()
        if not rows:
            return
        where = "; ".join(
            f"service {sid} version {ver}{' (active)' if active else ''} as {name!r} (link {lid})"
            for sid, ver, lid, name, active in rows[:3]
        )
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        sid, ver, lid, _, active = rows[0]
        hint = f"delete resource link {lid} of service {sid} version {ver} first"
        if active:
            hint += ", on a clone of that version, then activate the clone"
        raise Conflict(
            f"KV store {store_id!r} is still linked from {where}{more}",
            hint,
            title="Conflict",
            reason="store_linked_active" if active else "store_linked",
            facts={"service_id": sid, "version": ver, "link_id": lid},
            detail=f"Resource '{store_id}' is linked from service '{sid}' version '{ver}'",
        )
