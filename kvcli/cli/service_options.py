"""Options and renderers shared by `kvcli service …` and `kvcli resource-link …`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kvcli.api.errors import ConfigError, UsageError
from kvcli.api.models import ResourceLink, Service, Version
from kvcli.cli import complete
from kvcli.cli.options import rfc3339
from kvcli.cli.state import Output

ServiceIdOpt = Annotated[
    str | None,
    typer.Option(
        "--service-id",
        "-s",
        help="Service ID (default: $FASTLY_SERVICE_ID, then service_id in ./fastly.toml).",
        autocompletion=complete.service_ids,
        show_default=False,
    ),
]
ServiceNameOpt = Annotated[
    str | None,
    typer.Option(
        "--service-name",
        help="Service name (instead of --service-id).",
        autocompletion=complete.service_names,
        show_default=False,
    ),
]
VersionOpt = Annotated[
    str,
    typer.Option(
        "--version",
        help='Service version: a number, "latest", "active" or "staged".',
        show_default=False,
    ),
]
AutocloneOpt = Annotated[
    bool,
    typer.Option("--autoclone", help="If the version is active or locked, clone it and work on the clone."),
]

MANIFEST = "fastly.toml"


def _manifest_service_id(directory: Path) -> str | None:
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read service_id from {MANIFEST}: {exc}", f"fix {MANIFEST} or pass --service-id"
        ) from None
    value = data.get("service_id")
    return value if isinstance(value, str) and value.strip() else None


def resolve_service_id(out: Output, api, service_id: str | None, service_name: str | None) -> str:
    """--service-id, else --service-name (looked up), else $FASTLY_SERVICE_ID, else ./fastly.toml's service_id."""
    if service_id and service_name:
        raise UsageError("pass either --service-id or --service-name, not both")
    source = "--service-id"
    if not service_id and service_name:
        service_id, source = api.find_service(service_name).id, "--service-name"
    if not service_id and os.environ.get("FASTLY_SERVICE_ID", "").strip():
        service_id, source = os.environ["FASTLY_SERVICE_ID"].strip(), "FASTLY_SERVICE_ID"
    if not service_id:
        service_id, source = _manifest_service_id(Path.cwd()), MANIFEST
    if not service_id:
        raise UsageError(
            "no service given",
            "pass --service-id or --service-name, set FASTLY_SERVICE_ID, or set service_id in ./fastly.toml",
        )
    if out.verbose:
        out.message(f"Service ID (via {source}): {service_id}")
    return service_id


# ------------------------------------------------------------------------------------------------ rendering
def link_json(link: ResourceLink) -> dict:
    """The official CLI's resource-link object (go-fastly's Resource json tags, in struct order)."""
    return {
        "created_at": rfc3339(link.created_at),
        "deleted_at": rfc3339(link.deleted_at),
        "href": link.href,
        "id": link.id,
        "name": link.name,
        "resource_id": link.resource_id,
        "resource_type": link.resource_type,
        "service_id": link.service_id,
        "version": link.version,
        "updated_at": rfc3339(link.updated_at),
    }


def version_json(v: Version) -> dict:
    """The API's version object (fastly-api §6.1 field names)."""
    return {
        "number": v.number,
        "service_id": v.service_id,
        "active": v.active,
        "locked": v.locked,
        "staging": v.staging,
        "comment": v.comment,
        "created_at": rfc3339(v.created_at),
        "updated_at": rfc3339(v.updated_at),
    }


def service_json(s: Service) -> dict:
    return {
        "id": s.id,
        "name": s.name,
        "type": s.type,
        "comment": s.comment,
        "created_at": rfc3339(s.created_at),
        "updated_at": rfc3339(s.updated_at),
        "active_version": s.active_version,
        "latest_version": s.latest_version,
        "versions": [version_json(v) for v in s.versions],
    }


def version_state(v: Version) -> str:
    parts = [p for p, on in (("active", v.active), ("locked", v.locked), ("staged", v.staging)) if on]
    return ", ".join(parts) or "editable"
