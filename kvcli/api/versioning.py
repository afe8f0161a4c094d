"""Choosing a service version the way ``--version`` and ``--autoclone`` do, on any :class:`ServicesApi`.

``--version`` takes a number, ``latest``, ``active`` or ``staged`` (keywords case-insensitive). Unlike the official
Fastly CLI, ``active`` with no active version is an error, not a silent fall-back to ``latest``.
"""

from __future__ import annotations

from kvcli.api.errors import NotFound, UsageError, VersionLocked
from kvcli.api.models import Version
from kvcli.api.port import ServicesApi
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

KEYWORDS = ("latest", "active", "staged")


def parse_version_spec(raw: str) -> int | str:
    """A positive version number, or one of the keywords (lower-cased)."""
    text = (raw or "").strip()
    if text.lower() in KEYWORDS:
        return text.lower()
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise UsageError(
        f"invalid version value {raw!r}",
        'use a version number, "latest", "active" or "staged"',
        reason="version_spec_invalid",
    )


def resolve_version(api: ServicesApi, service_id: str, spec: int | str) -> Version:
    """The version ``spec`` names on ``service_id``; NotFound when there is none."""
    if isinstance(spec, int):
        return api.get_version(service_id, spec)
    if spec == "latest":
        versions = api.list_versions(service_id)
        if not versions:
            raise NotFound(f"service {service_id} has no versions", "create one with 'kvcli service version clone'")
        return max(versions, key=lambda v: v.number)
    if spec == "active":
        version = api.active_version(service_id)
        if version is None:
            raise NotFound(
                f"service {service_id} has no active version",
                'choose "latest" or a version number, or activate a version first',
                reason="no_active_version",
            )
        return version
    if spec == "staged":
        version = api.staged_version(service_id)
        if version is None:
            raise NotFound(
                f"service {service_id} has no staged version",
                'choose "latest", "active" or a version number',
                reason="no_staged_version",
            )
        return version
    raise UsageError(f"invalid version value {spec!r}")  # pragma: no cover - parse_version_spec guards this


def not_editable(version: Version) -> VersionLocked:
    state = "active" if version.active else "locked"
    if version.active and version.locked:
        state = "active and locked"
    return VersionLocked(
        f"service version {version.number} is {state} and cannot be edited",
        "work on a clone of it: clone the version, or let the command clone it",
        title="Version locked",
        reason="version_not_editable",
        detail=f"Version '{version.number}' for service '{version.service_id}' is locked",
    )


@dataclass(frozen=True)
class EditableVersion:
    version: Version
    #: the version that was cloned to get ``version`` (None when ``version`` was editable already)
    cloned_from: Version | None = None


def editable_version(api: ServicesApi, service_id: str, spec: int | str, *, autoclone: bool) -> EditableVersion:
    """The version to edit: the one ``spec`` names if editable, else (with ``autoclone``) a fresh clone of it."""
    version = resolve_version(api, service_id, spec)
    if version.editable:
        return EditableVersion(version)
    if not autoclone:
        raise not_editable(version)
    return EditableVersion(api.clone_version(service_id, version.number), cloned_from=version)
