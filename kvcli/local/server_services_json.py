"""The JSON bodies of the local server's ``/service`` endpoints, in the shapes recorded from the real API (see
:mod:`kvcli.local.server_services`)."""

from __future__ import annotations

from typing import Any

from kvcli.api import wire
from kvcli.api.models import ResourceLink, Service, Version

#: what ``customer_id`` says on the embedded backend (there are no customers)
LOCAL_CUSTOMER_ID = "kvcliLocalCustomer0000"


def version_json(v: Version) -> dict[str, Any]:
    environments = (
        [{"name": wire.ENV_PRODUCTION, "service_id": v.service_id, "active_version": v.number}] if v.active else []
    )
    return {
        "active": v.active,
        "comment": v.comment,
        "created_at": wire.service_timestamp(v.created_at),
        "deleted_at": None,
        "deployed": False,
        "locked": v.locked,
        "number": v.number,
        "service_id": v.service_id,
        "staging": v.staging,
        "testing": False,
        "updated_at": wire.service_timestamp(v.updated_at),
        "environments": environments,
    }


#: the configuration lists of a version in ``/details``: a VCL service's (recorded 2026-05) and a Compute service's
#: (recorded 2025-09). The embedded backend has none of these objects, so every list is empty.
VCL_DETAIL_LISTS = (
    "acls", "backends", "cache_settings", "conditions", "dictionaries", "directors", "domains", "gzips", "headers",
    "healthchecks", "request_settings", "response_objects", "snippets", "vcls", "wordpress",
)  # fmt: skip
WASM_DETAIL_LISTS = ("backends", "domains", "healthchecks")
#: a VCL version's ``settings`` object in ``/details``: the defaults of a new service, as recorded
VCL_DEFAULT_SETTINGS: dict[str, Any] = {
    "general.default_host": "",
    "general.default_pci": 0,
    "general.default_ttl": 3600,
    "general.stale_if_error": False,
    "general.stale_if_error_ttl": 43200,
}
#: ``GET .../version/{n}/validate`` of a valid version (the embedded backend has nothing that could be invalid)
VALIDATE_OK: dict[str, Any] = {"status": "ok", "msg": None, "errors": [], "warnings": [], "messages": []}


def version_detail_json(v: Version | None, service_type: str) -> dict[str, Any] | None:
    """A version as ``/details`` shows it: the version object plus its (here always empty) configuration lists."""
    if v is None:
        return None
    if service_type == "vcl":
        return version_json(v) | {k: [] for k in VCL_DETAIL_LISTS} | {"settings": dict(VCL_DEFAULT_SETTINGS)}
    return version_json(v) | {k: [] for k in WASM_DETAIL_LISTS}


def service_base_json(s: Service) -> dict[str, Any]:
    """The keys every service shape has (search and ``/details`` answer just these, plus their own)."""
    active = s.active_version
    return {
        "id": s.id,
        "name": s.name,
        "type": s.type,
        "comment": s.comment,
        "customer_id": LOCAL_CUSTOMER_ID,
        "created_at": wire.service_timestamp(s.created_at),
        "updated_at": wire.service_timestamp(s.updated_at),
        "deleted_at": None,
        "environments": (
            [{"name": wire.ENV_PRODUCTION, "service_id": s.id, "active_version": active}] if active else []
        ),
        "versions": [version_json(v) for v in s.versions],
    }


def service_json(s: Service) -> dict[str, Any]:
    """The service of create, get and update: no ``version`` key (go-fastly would read an active version from it)."""
    return service_base_json(s) | {"paused": False, "publish_key": ""}


def service_list_json(s: Service) -> dict[str, Any]:
    """A ``GET /service`` element: ``paused`` and the integer ``version`` (the active one, else the latest)."""
    active = s.active_version
    return service_base_json(s) | {"paused": False, "version": active if active is not None else s.latest_version}


def link_json(link: ResourceLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "name": link.name,
        "service_id": link.service_id,
        "version": link.version,
        "resource_id": link.resource_id,
        "resource_type": link.resource_type,
        "created_at": wire.service_timestamp(link.created_at),
        "updated_at": wire.service_timestamp(link.updated_at),
        "deleted_at": wire.service_timestamp(link.deleted_at),
        "href": link.href,
    }
