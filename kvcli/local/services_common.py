"""What the services and resource-link halves of the embedded engine share: the schema they add (migrations 1 → 2
and 2 → 3), their column lists, IDs, name checks and Fastly-shaped errors."""

from __future__ import annotations

import string
from datetime import UTC, datetime

from kvcli.api.errors import Conflict, InvalidInput, NotFound, VersionLocked
from kvcli.api.models import Version

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


def _check_name(what: str, name: str) -> None:
    if not name or not name.strip():
        reason = f"{what.replace(' ', '_')}_name_empty"
        raise InvalidInput(f"{what} name is empty", "give a non-empty name", reason=reason)
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
        "list the service's versions to see which exist",
        title="Record not found",
        reason="version_not_found",
        facts={"service_id": service_id},
        detail=f"Couldn't find Version '{{ number => {number}, service => {service_id} }}'",
    )


def _link_not_found(service_id: str, number: int, link_id: str) -> NotFound:
    return NotFound(
        f"resource link {link_id!r} not found on service {service_id!r} version {number}",
        "list the version's resource links to see which exist",
        title="Record not found",
        reason="link_not_found",
        facts={"service_id": service_id, "version": number},
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
        "edit a clone of it: clone the version, or let the command clone it",
        title="Version locked",
        reason="version_locked",
        detail=f"Version '{version.number}' for service '{version.service_id}' is locked",
    )
