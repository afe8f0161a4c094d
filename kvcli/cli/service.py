"""`kvcli service …`: services and their versions, plus `service resource-link …` (the official path)."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import UsageError
from kvcli.api.models import SERVICE_TYPES
from kvcli.cli.lazy import lazy_group
from kvcli.cli.options import JsonOpt, OutputFormatOpt, human_time
from kvcli.cli.resource_link import app as resource_link_app
from kvcli.cli.service_options import (
    AutocloneOpt,
    ServiceIdOpt,
    ServiceNameOpt,
    VersionOpt,
    resolve_service_id,
    service_json,
    version_json,
    version_state,
)
from kvcli.cli.state import Output, State, output_format

#: alias -> command name (never listed in --help; the command's help names it): kvcli.cli.lazy
ALIASES = {"get": "describe"}

app = typer.Typer(
    name="service",
    cls=lazy_group(aliases=ALIASES, sort=False),
    help="Create, list, describe, update and delete services; manage their versions and resource links.",
    no_args_is_help=True,
)
version_app = typer.Typer(
    name="version",
    help="List, update, clone, activate, deactivate and lock service versions.",
    no_args_is_help=True,
)
app.add_typer(version_app, name="version")
app.add_typer(resource_link_app, name="resource-link")


def _type(value: str) -> str:
    if value not in SERVICE_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(SERVICE_TYPES)}, got {value!r}")
    return value


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new service.", show_default=False)],
    type_: Annotated[
        str, typer.Option("--type", help="Service type: wasm (Compute) or vcl.", callback=_type)
    ] = "wasm",
    comment: Annotated[str, typer.Option("--comment", help="A comment for the service.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Create a service (it starts with an editable version 1).

    Example: kvcli service create --name my-app --type wasm
    """
    state = State.of(ctx)
    out = state.out
    svc = state.api(writes=True).create_service(name, type_, comment)
    if json_out:
        out.emit_json(service_json(svc))
    else:
        out.success(f"Created service {svc.id} ({svc.name!r}, type {svc.type})")


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False, fmt: OutputFormatOpt = None) -> None:
    """List services.

    Example: kvcli service list --json
    """
    state = State.of(ctx)
    out = state.out
    fmt = output_format(fmt, json_out)
    services = state.api().list_services()
    if fmt in ("json", "ndjson"):
        (out.emit_json if fmt == "json" else out.emit_ndjson)([service_json(s) for s in services])
        return
    if not services:
        out.message("No services. Create one with: kvcli service create --name NAME")
        return
    out.print_table(
        fmt=fmt,
        columns=["ID", "Name", "Type", "Active version", "Latest version", "Last edited (UTC)"],
        rows=[
            [s.id, s.name, s.type, str(s.active_version or "-"), str(s.latest_version or "-"), human_time(s.updated_at)]
            for s in services
        ],
    )


def _versions_table(
    out: Output, versions, title: str | None = None, fmt: str | None = None, label: str | None = None
) -> None:
    """The versions as a listing; ``label`` (plain only) starts each row, as under a record's fields."""
    rows = [[str(v.number), version_state(v), v.comment, human_time(v.created_at), human_time(v.updated_at)]
            for v in versions]  # fmt: skip
    fmt = fmt or output_format(None)
    if label and fmt == "plain":
        rows = [[label, *row] for row in rows]
    out.print_table(["Number", "State", "Comment", "Created (UTC)", "Last edited (UTC)"], rows, title=title, fmt=fmt)


def _describe(state: State, service_id: str | None, service_name: str | None, json_out: bool) -> None:
    out = state.out
    api = state.api()
    sid = resolve_service_id(out, api, service_id, service_name)
    svc = api.get_service(sid)
    if json_out:
        out.emit_json(service_json(svc))
        return
    out.print_fields(
        [
            ("ID", svc.id),
            ("Name", svc.name),
            ("Type", svc.type),
            ("Comment", svc.comment or "-"),
            ("Active version", str(svc.active_version or "-")),
            ("Latest version", str(svc.latest_version or "-")),
            ("Created (UTC)", human_time(svc.created_at)),
            ("Last edited (UTC)", human_time(svc.updated_at)),
        ]
    )
    if svc.versions:
        _versions_table(out, svc.versions, title="Versions", label="Version")


@app.command("describe")
def describe(
    ctx: typer.Context, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Show a service and its versions (alias: get).

    Example: kvcli service describe --service-name my-app
    """
    state = State.of(ctx)
    _describe(state, service_id, service_name, json_out)


@app.command("update")
def update(
    ctx: typer.Context,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="New name of the service.", show_default=False)
    ] = None,
    comment: Annotated[
        str | None, typer.Option("--comment", help='New comment ("" clears it).', show_default=False)
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Rename a service and/or change its comment (at least one of --name, --comment).

    Example: kvcli service update --service-name my-app --name my-renamed-app --comment "KV only"
    """
    state = State.of(ctx)
    out = state.out
    if name is None and comment is None:
        raise UsageError("nothing to update", "pass --name NEW_NAME and/or --comment TEXT")
    api = state.api(writes=True)
    sid = resolve_service_id(out, api, service_id, service_name)
    svc = api.update_service(sid, name=name, comment=comment)
    if json_out:
        out.emit_json(service_json(svc))
    else:
        out.success(f"Updated service {svc.id}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Deactivate the active version first, then delete.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a service with its versions and resource links (asks for confirmation unless -y).

    Example: kvcli -y service delete --service-name my-app --force
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid = resolve_service_id(out, api, service_id, service_name)
    svc = api.get_service(sid)
    state.confirm_or_cancel(f"This will delete service {svc.name!r} ({sid}) with all its versions and resource links")
    active = svc.active_version
    if active is not None and force:
        api.deactivate_version(sid, active)
        out.message(f"Deactivated version {active} of service {sid}.")
    api.delete_service(sid)
    if json_out:
        out.emit_json({"id": sid, "deleted": True})
    else:
        out.success(f"Deleted service {sid} ({svc.name!r})")


# ------------------------------------------------------------------------------------------------ versions
def _service_and_version(out: Output, api, service_id, service_name, version: str):
    from kvcli.api.versioning import parse_version_spec, resolve_version

    spec = parse_version_spec(version)
    sid = resolve_service_id(out, api, service_id, service_name)
    return sid, resolve_version(api, sid, spec)


@version_app.command("list")
def version_list(
    ctx: typer.Context,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    json_out: JsonOpt = False,
    fmt: OutputFormatOpt = None,
):
    """List the versions of a service.

    Example: kvcli service version list --service-id SVC
    """
    state = State.of(ctx)
    out = state.out
    fmt = output_format(fmt, json_out)
    api = state.api()
    sid = resolve_service_id(out, api, service_id, service_name)
    versions = api.list_versions(sid)
    if fmt in ("json", "ndjson"):
        (out.emit_json if fmt == "json" else out.emit_ndjson)([version_json(v) for v in versions])
        return
    _versions_table(out, versions, title=f"Service {sid}", fmt=fmt)


@version_app.command("update")
def version_update(
    ctx: typer.Context,
    version: VersionOpt,
    comment: Annotated[str, typer.Option("--comment", help='New comment ("" clears it).', show_default=False)],
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    json_out: JsonOpt = False,
):
    """Change the comment of a version (an active or locked one only with --autoclone: its clone is changed).

    Example: kvcli service version update --service-id SVC --version latest --comment "add the config store"
    """
    state = State.of(ctx)
    out = state.out
    from kvcli.cli.resource_link import _editable

    api = state.api(writes=True)
    sid, number = _editable(out, api, service_id, service_name, version, autoclone)
    done = api.update_version(sid, number, comment)
    if json_out:
        out.emit_json(version_json(done))
    else:
        out.success(f"Updated service {sid} version {done.number}")


@version_app.command("clone")
def version_clone(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
):
    """Copy a version (with its resource links) into a new editable version.

    Example: kvcli service version clone --service-id SVC --version active
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid, source = _service_and_version(out, api, service_id, service_name, version)
    new = api.clone_version(sid, source.number)
    if json_out:
        out.emit_json(version_json(new))
    else:
        out.success(f"Cloned service {sid} version {source.number} to version {new.number}")


def _change_version_state(
    state: State,
    verb: str, past: str, version: str, service_id: str | None, service_name: str | None, json_out: bool
) -> None:
    """activate / deactivate / lock: resolve the version, call ``api.<verb>_version``, report the result."""
    out = state.out
    api = state.api(writes=True)
    sid, v = _service_and_version(out, api, service_id, service_name, version)
    done = getattr(api, f"{verb}_version")(sid, v.number)
    if json_out:
        out.emit_json(version_json(done))
    else:
        out.success(f"{past} service {sid} version {done.number}")


@version_app.command("activate")
def version_activate(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
):
    """Activate a version (this locks it; the previously active version is deactivated).

    Example: kvcli service version activate --service-id SVC --version latest
    """
    state = State.of(ctx)
    _change_version_state(state, "activate", "Activated", version, service_id, service_name, json_out)


@version_app.command("deactivate")
def version_deactivate(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
):
    """Deactivate the active version.

    Example: kvcli service version deactivate --service-id SVC --version active
    """
    state = State.of(ctx)
    _change_version_state(state, "deactivate", "Deactivated", version, service_id, service_name, json_out)


@version_app.command("lock")
def version_lock(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
):
    """Lock a version against further edits.

    Example: kvcli service version lock --service-id SVC --version 3
    """
    state = State.of(ctx)
    _change_version_state(state, "lock", "Locked", version, service_id, service_name, json_out)
