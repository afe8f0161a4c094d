"""Services, service versions and resource links in the embedded engine (mixed into :class:`Engine`).

The model follows Fastly's:

* a service has a unique name, a type (``wasm`` or ``vcl``) and numbered versions; a new service has version 1;
* a version is *editable* while it is neither active nor locked. Activating a version locks it (as on Fastly) and
  deactivates the previously active one. Cloning copies the comment and the resource links into a new version
  numbered highest + 1; a cloned link keeps its ID, so ``--autoclone`` followed by an edit of that ID works;
* a resource link attaches a KV store to one version under a link name (the name edge code opens the store by).
  Changing the links of a version that is not editable raises :class:`VersionLocked` (Fastly's 422).

Deleting a KV store is refused (``Conflict``) while a link to it sits on a version that is active or still
editable: those are the versions that serve, or are about to serve, traffic. Links on locked, inactive versions are
history and do not block; activating such a version later is refused if one of its linked stores is gone.

Errors carry Fastly's ``title``/``detail`` (``Record not found``, ``Version locked``, ``Duplicate record``) so the
local server can render the API's ``{"msg", "detail"}`` bodies from them.

Resource links are :mod:`kvcli.local.services_links`; the schema, IDs and errors both use are in
:mod:`kvcli.local.services_common`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from kvcli.api.errors import Conflict, InvalidInput, NotFound
from kvcli.api.models import SERVICE_TYPES, Service, Version
from kvcli.local.services_common import (  # noqa: F401 - the migrations and new_fastly_id are re-exported
    _SERVICE_COLS,
    _VERSION_COLS,
    DELETED_SERVICES_MIGRATION,
    MAX_NAME_BYTES,
    SERVICES_MIGRATION,
    _check_name,
    _duplicate_service,
    _service_not_found,
    _ts,
    _version_locked,
    _version_not_found,
    new_fastly_id,
)
from kvcli.local.services_links import LinksMixin


class ServicesMixin(LinksMixin):
    """The service / version / resource-link half of the engine. Needs the engine's ``conn``, ``write`` and ``_now``."""

    if TYPE_CHECKING:  # provided by Engine

        @property
        def conn(self) -> sqlite3.Connection: ...

        write: Callable[[], AbstractContextManager[sqlite3.Connection]]

        def _now(self) -> float: ...

    # ----------------------------------------------------------------- rows
    @staticmethod
    def _row_to_version(row: tuple) -> Version:
        return Version(
            service_id=row[0],
            number=row[1],
            active=bool(row[2]),
            locked=bool(row[3]),
            staging=bool(row[4]),
            comment=row[5],
            created_at=_ts(row[6]),
            updated_at=_ts(row[7]),
        )

    def _versions(self, conn: sqlite3.Connection, service_id: str) -> list[Version]:
        rows = conn.execute(
            f"SELECT {_VERSION_COLS} FROM service_versions WHERE service_id = ? ORDER BY number", (service_id,)
        ).fetchall()
        return [self._row_to_version(r) for r in rows]

    def _service(self, conn: sqlite3.Connection, row: tuple) -> Service:
        return Service(
            id=row[0],
            name=row[1],
            type=row[2],
            comment=row[3],
            created_at=_ts(row[4]),
            updated_at=_ts(row[5]),
            versions=tuple(self._versions(conn, row[0])),
        )

    def _require_service(self, conn: sqlite3.Connection, service_id: str) -> tuple:
        row = conn.execute(f"SELECT {_SERVICE_COLS} FROM services WHERE id = ?", (service_id,)).fetchone()
        if row is None:
            raise _service_not_found(service_id)
        return row

    def _require_version(self, conn: sqlite3.Connection, service_id: str, number: int) -> Version:
        row = conn.execute(
            f"SELECT {_VERSION_COLS} FROM service_versions WHERE service_id = ? AND number = ?", (service_id, number)
        ).fetchone()
        if row is None:
            self._require_service(conn, service_id)
            raise _version_not_found(service_id, number)
        return self._row_to_version(row)

    def _require_editable(self, conn: sqlite3.Connection, service_id: str, number: int) -> Version:
        version = self._require_version(conn, service_id, number)
        if not version.editable:
            raise _version_locked(version)
        return version

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so a multi-statement read sees one snapshot."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _touch_service(self, conn: sqlite3.Connection, service_id: str, now: int) -> None:
        conn.execute("UPDATE services SET updated_at = ? WHERE id = ?", (now, service_id))

    # ------------------------------------------------------------- services
    def create_service(self, name: str, type: str = "wasm", comment: str = "") -> Service:
        _check_name("service", name)
        if type not in SERVICE_TYPES:
            raise InvalidInput(f"invalid service type {type!r}", f"use one of {', '.join(SERVICE_TYPES)}")
        now = int(self._now())
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM services WHERE name = ?", (name,)).fetchone():
                raise _duplicate_service(name)
            service_id = new_fastly_id()
            conn.execute(
                "INSERT INTO services(id, name, type, comment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (service_id, name, type, comment or "", now, now),
            )
            conn.execute(
                "INSERT INTO service_versions(service_id, number, created_at, updated_at) VALUES (?, 1, ?, ?)",
                (service_id, now, now),
            )
        return self.get_service(service_id)

    def list_services(self) -> list[Service]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_SERVICE_COLS} FROM services ORDER BY created_at, rowid").fetchall()
            return [self._service(conn, r) for r in rows]

    def get_service(self, service_id: str) -> Service:
        with self._read() as conn:
            return self._service(conn, self._require_service(conn, service_id))

    def find_service(self, name: str) -> Service:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_SERVICE_COLS} FROM services WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(
                    f"no service named {name!r}",
                    "run 'kvcli service list' to see the service names",
                    title="Record not found",
                    detail=f"Couldn't find Service '{name}'",
                )
            return self._service(conn, row)

    def update_service(self, service_id: str, name: str | None = None, comment: str | None = None) -> Service:
        """Rename a service and/or change its comment (None: unchanged; ``comment=""`` clears it)."""
        if name is None and comment is None:
            raise InvalidInput("nothing to update", "give a new name, a new comment, or both",
                               reason="service_update_empty")
        if name is not None:
            _check_name("service", name)
        now = int(self._now())
        with self.write() as conn:
            row = self._require_service(conn, service_id)
            if name is not None and name != row[1]:
                if conn.execute("SELECT 1 FROM services WHERE name = ?", (name,)).fetchone():
                    raise _duplicate_service(name)
            conn.execute(
                "UPDATE services SET name = ?, comment = ?, updated_at = ? WHERE id = ?",
                (row[1] if name is None else name, row[3] if comment is None else comment, now, service_id),
            )
        return self.get_service(service_id)

    def delete_service(self, service_id: str) -> None:
        """Delete a service with its versions and links. A service with an active version is refused; a service
        deleted before is refused with Fastly's 400 "Service '…' is deleted"."""
        with self.write() as conn:
            exists = conn.execute("SELECT 1 FROM services WHERE id = ?", (service_id,)).fetchone()
            if not exists and conn.execute("SELECT 1 FROM deleted_services WHERE id = ?", (service_id,)).fetchone():
                raise InvalidInput(
                    f"service {service_id} is already deleted",
                    "run 'kvcli service list' to see the services",
                    title="Bad request",
                    detail=f"Service '{service_id}' is deleted",
                )
            self._require_service(conn, service_id)
            active = conn.execute(
                "SELECT number FROM service_versions WHERE service_id = ? AND active = 1", (service_id,)
            ).fetchone()
            if active:
                raise Conflict(
                    f"service {service_id} has an active version ({active[0]}) and cannot be deleted",
                    f"deactivate version {active[0]} first, then delete the service",
                    detail=f"Service '{service_id}' has an active version",
                    reason="service_active",
                    facts={"service_id": service_id, "version": active[0]},
                )
            conn.execute("DELETE FROM resource_links WHERE service_id = ?", (service_id,))
            conn.execute("DELETE FROM service_versions WHERE service_id = ?", (service_id,))
            conn.execute("DELETE FROM services WHERE id = ?", (service_id,))
            conn.execute(
                "INSERT OR REPLACE INTO deleted_services(id, deleted_at) VALUES (?, ?)",
                (service_id, int(self._now())),
            )

    # ------------------------------------------------------------- versions
    def list_versions(self, service_id: str) -> list[Version]:
        with self._read() as conn:
            self._require_service(conn, service_id)
            return self._versions(conn, service_id)

    def get_version(self, service_id: str, number: int) -> Version:
        with self._read() as conn:
            return self._require_version(conn, service_id, number)

    def _next_number(self, conn: sqlite3.Connection, service_id: str) -> int:
        return conn.execute(
            "SELECT coalesce(max(number), 0) + 1 FROM service_versions WHERE service_id = ?", (service_id,)
        ).fetchone()[0]

    def create_version(self, service_id: str, comment: str = "") -> Version:
        """A new, empty version numbered highest + 1."""
        now = int(self._now())
        with self.write() as conn:
            self._require_service(conn, service_id)
            number = self._next_number(conn, service_id)
            conn.execute(
                "INSERT INTO service_versions(service_id, number, comment, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (service_id, number, comment or "", now, now),
            )
            self._touch_service(conn, service_id, now)
        return self.get_version(service_id, number)

    def update_version(self, service_id: str, number: int, comment: str) -> Version:
        """Change the comment of an editable version (active or locked: :class:`VersionLocked`, Fastly's 422)."""
        now = int(self._now())
        with self.write() as conn:
            self._require_editable(conn, service_id, number)
            conn.execute(
                "UPDATE service_versions SET comment = ?, updated_at = ? WHERE service_id = ? AND number = ?",
                (comment or "", now, service_id, number),
            )
            self._touch_service(conn, service_id, now)
        return self.get_version(service_id, number)

    def clone_version(self, service_id: str, number: int) -> Version:
        """Copy a version (comment and resource links) into a new, editable version numbered highest + 1."""
        now = int(self._now())
        with self.write() as conn:
            source = self._require_version(conn, service_id, number)
            new = self._next_number(conn, service_id)
            conn.execute(
                "INSERT INTO service_versions(service_id, number, comment, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (service_id, new, source.comment, now, now),
            )
            conn.execute(
                "INSERT INTO resource_links(service_id, version, id, name, resource_id, resource_type, created_at, "
                "updated_at) SELECT service_id, ?, id, name, resource_id, resource_type, created_at, updated_at "
                "FROM resource_links WHERE service_id = ? AND version = ?",
                (new, service_id, number),
            )
            self._touch_service(conn, service_id, now)
        return self.get_version(service_id, new)

    def activate_version(self, service_id: str, number: int) -> Version:
        """Make ``number`` the active version (locking it) and deactivate the one that was active."""
        now = int(self._now())
        with self.write() as conn:
            version = self._require_version(conn, service_id, number)
            if not version.active:
                missing = conn.execute(
                    "SELECT l.name, l.resource_id FROM resource_links l LEFT JOIN stores s ON s.id = l.resource_id "
                    "WHERE l.service_id = ? AND l.version = ? AND s.id IS NULL ORDER BY l.name",
                    (service_id, number),
                ).fetchall()
                if missing:
                    name, resource_id = missing[0]
                    raise Conflict(
                        f"version {number} of service {service_id} links KV store {resource_id!r} "
                        f"(link {name!r}), which no longer exists",
                        "clone the version, delete that link from the clone, and activate the clone",
                        detail=f"Resource '{resource_id}' linked as '{name}' does not exist",
                    )
                conn.execute(
                    "UPDATE service_versions SET active = 0, updated_at = ? WHERE service_id = ? AND active = 1",
                    (now, service_id),
                )
                conn.execute(
                    "UPDATE service_versions SET active = 1, locked = 1, updated_at = ? "
                    "WHERE service_id = ? AND number = ?",
                    (now, service_id, number),
                )
                self._touch_service(conn, service_id, now)
        return self.get_version(service_id, number)

    def deactivate_version(self, service_id: str, number: int) -> Version:
        """Deactivate the active version (it stays locked). A version that is not active is refused."""
        now = int(self._now())
        with self.write() as conn:
            version = self._require_version(conn, service_id, number)
            if not version.active:
                raise Conflict(
                    f"version {number} of service {service_id} is not active",
                    "list the service's versions to see which one is active",
                    detail=f"Version '{number}' for service '{service_id}' is not active",
                    reason="version_not_active",
                    facts={"service_id": service_id},
                )
            conn.execute(
                "UPDATE service_versions SET active = 0, updated_at = ? WHERE service_id = ? AND number = ?",
                (now, service_id, number),
            )
            self._touch_service(conn, service_id, now)
        return self.get_version(service_id, number)

    def lock_version(self, service_id: str, number: int) -> Version:
        """Lock a version against edits (idempotent)."""
        now = int(self._now())
        with self.write() as conn:
            version = self._require_version(conn, service_id, number)
            if not version.locked:
                conn.execute(
                    "UPDATE service_versions SET locked = 1, updated_at = ? WHERE service_id = ? AND number = ?",
                    (now, service_id, number),
                )
        return self.get_version(service_id, number)

    def active_version(self, service_id: str) -> Version | None:
        return next((v for v in self.list_versions(service_id) if v.active), None)

    def staged_version(self, service_id: str) -> Version | None:
        """The staged version; the embedded backend has no staging, so this is always None for it."""
        return next((v for v in self.list_versions(service_id) if v.staging), None)
