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
"""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kvcli.api.errors import Conflict, InvalidInput, NotFound, VersionLocked
from kvcli.api.models import RESOURCE_TYPE_KV, SERVICE_TYPES, ResourceLink, Service, Version

SERVICES_MIGRATION = """
    CREATE TABLE services (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE service_versions (
        service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        locked INTEGER NOT NULL DEFAULT 0,
        staging INTEGER NOT NULL DEFAULT 0,
        comment TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (service_id, number)
    );
    CREATE TABLE resource_links (
        service_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (service_id, version, id),
        UNIQUE (service_id, version, name),
        FOREIGN KEY (service_id, version) REFERENCES service_versions(service_id, number) ON DELETE CASCADE
    );
    CREATE INDEX resource_links_resource ON resource_links(resource_id)
"""

#: 2 → 3: the IDs of deleted services, so a second delete answers Fastly's 400 "Service '…' is deleted" (not 404)
DELETED_SERVICES_MIGRATION = """
    CREATE TABLE deleted_services (
        id TEXT PRIMARY KEY,
        deleted_at INTEGER NOT NULL
    )
"""

_BASE62 = string.digits + string.ascii_letters
MAX_NAME_BYTES = 255

_SERVICE_COLS = "id, name, type, comment, created_at, updated_at"
_VERSION_COLS = "service_id, number, active, locked, staging, comment, created_at, updated_at"
_LINK_COLS = "id, name, resource_id, resource_type, service_id, version, created_at, updated_at"


def new_fastly_id() -> str:
    """A 22-character mixed-case base62 ID, the shape of Fastly's service and resource-link IDs."""
    import secrets  # only writers need it (it pulls in hashlib/hmac)

    return "".join(secrets.choice(_BASE62) for _ in range(22))


def _ts(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _check_name(what: str, name: str, flag: str) -> None:
    if not name or not name.strip():
        raise InvalidInput(f"{what} name is empty", f"pass a name with {flag}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidInput(f"{what} name is longer than {MAX_NAME_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidInput(f"{what} name cannot contain control characters")


def _service_not_found(service_id: str) -> NotFound:
    return NotFound(
        f"service {service_id!r} not found",
        "run 'kvcli service list' to see the service IDs",
        title="Record not found",
        detail=f"Couldn't find Service '{service_id}'",
    )


def _duplicate_service(name: str) -> Conflict:
    return Conflict(
        f"a service named {name!r} already exists",
        "choose another name: service names are unique",
        title="Duplicate record",
        detail=f"Duplicate service: '{name}'",
    )


def _version_not_found(service_id: str, number: int) -> NotFound:
    return NotFound(
        f"version {number} of service {service_id!r} not found",
        f"run 'kvcli service version list --service-id {service_id}' to see its versions",
        title="Record not found",
        detail=f"Couldn't find Version '{{ number => {number}, service => {service_id} }}'",
    )


def _link_not_found(service_id: str, number: int, link_id: str) -> NotFound:
    return NotFound(
        f"resource link {link_id!r} not found on service {service_id!r} version {number}",
        f"run 'kvcli resource-link list --service-id {service_id} --version {number}' to see its links",
        title="Record not found",
        detail=(
            f"Couldn't find Link '{{ deleted => 0000-00-00 00:00:00, id => {link_id}, "
            f"service => {service_id}, version => {number} }}'"
        ),
    )


def _store_not_found(resource_id: str) -> NotFound:
    return NotFound(
        f"KV store {resource_id!r} not found (a resource link needs an existing store)",
        "run 'kvcli kv-store list' to see the store IDs",
        title="Record not found",
        detail=f"Couldn't find Resource '{resource_id}'",
    )


def _version_locked(version: Version) -> VersionLocked:
    state = "active" if version.active else "locked"
    if version.active and version.locked:
        state = "active and locked"
    return VersionLocked(
        f"version {version.number} of service {version.service_id} is {state} and cannot be edited",
        "edit a clone of it: pass --autoclone, or run 'kvcli service version clone'",
        title="Version locked",
        detail=f"Version '{version.number}' for service '{version.service_id}' is locked",
    )


class ServicesMixin:
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
        _check_name("service", name, "-n/--name")
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
            raise InvalidInput("nothing to update", "pass a new name with -n/--name or a comment with --comment")
        if name is not None:
            _check_name("service", name, "-n/--name")
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
                    f"deactivate it first with 'kvcli service version deactivate --service-id {service_id} "
                    f"--version {active[0]}', or pass --force to 'kvcli service delete'",
                    detail=f"Service '{service_id}' has an active version",
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
                    f"run 'kvcli service version list --service-id {service_id}' to see which version is active",
                    detail=f"Version '{number}' for service '{service_id}' is not active",
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
                "choose another name with -n/--name: link names are unique within a version",
                title="Duplicate record",
                detail=f"Duplicate resource link: '{name}'",
            )

    def create_link(self, service_id: str, version: int, resource_id: str, name: str | None = None) -> ResourceLink:
        """Link a KV store to an editable version. The link name defaults to the store's name."""
        now = int(self._now())
        with self.write() as conn:
            self._require_editable(conn, service_id, version)
            if not resource_id:
                raise InvalidInput("no resource ID given", "pass the KV store ID with -r/--resource-id")
            store_name = self._store_name(conn, resource_id)
            name = name or store_name
            _check_name("resource link", name, "-n/--name")
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
            _check_name("resource link", new_name, "-n/--name")
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
        if active:
            hint = (
                f"unlink it first: 'kvcli resource-link delete --service-id {sid} --version {ver} --id {lid} "
                "--autoclone', then activate the new version"
            )
        else:
            hint = f"unlink it first: 'kvcli resource-link delete --service-id {sid} --version {ver} --id {lid}'"
        raise Conflict(
            f"KV store {store_id!r} is still linked from {where}{more}",
            hint,
            title="Conflict",
            detail=f"Resource '{store_id}' is linked from service '{sid}' version '{ver}'",
        )
