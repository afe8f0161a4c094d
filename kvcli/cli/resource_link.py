"""`kvcli resource-link …` (also `kvcli service resource-link …`): attach KV stores to a service version."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import UsageError
from kvcli.cli import complete
from kvcli.cli.lazy import lazy_group
from kvcli.cli.options import JsonOpt, OutputFormatOpt, human_time
from kvcli.cli.service_options import (
    AutocloneOpt,
    ServiceIdOpt,
    ServiceNameOpt,
    VersionOpt,
    link_json,
    resolve_service_id,
)
from kvcli.cli.state import Output, State, output_format

#: alias -> command name (never listed in --help; the command's help names it): kvcli.cli.lazy
ALIASES = {"link": "create", "get": "describe", "remove": "delete"}

app = typer.Typer(
    name="resource-link",
    cls=lazy_group(aliases=ALIASES, sort=False),
    help="Link KV stores to a service version (create, list, describe, update, delete).",
    no_args_is_help=True,
)

LinkIdOpt = Annotated[str, typer.Option("--id", help="ID of the resource link.", show_default=False)]
ResourceIdOpt = Annotated[
    str | None,
    typer.Option(
        "--resource-id", "-r", help="ID of the KV store to link.", autocompletion=complete.store_ids,
        show_default=False,
    ),
]
LinkStoreNameOpt = Annotated[
    str | None,
    typer.Option(
        "--store-name", help="Name of the KV store to link (instead of -r/--resource-id).",
        autocompletion=complete.store_names, show_default=False,
    ),
]
LinkNameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", help="Link name, the name edge code opens the store by (default: the store's name).",
        show_default=False,
    ),
]


def _editable(out: Output, api, service_id: str | None, service_name: str | None, version: str, autoclone: bool):
    """Service ID and an editable version number (cloning with --autoclone, and saying so)."""
    from kvcli.api.versioning import editable_version, parse_version_spec

    spec = parse_version_spec(version)
    sid = resolve_service_id(out, api, service_id, service_name)
    chosen = editable_version(api, sid, spec, autoclone=autoclone)
    if chosen.cloned_from is not None:
        src = chosen.cloned_from
        state = "active" if src.active else "locked"
        out.message(
            f"INFO: service version {src.number} is {state}, so it was cloned because --autoclone was given. "
            f"Now working on version {chosen.version.number}."
        )
    return sid, chosen.version.number


def _readable(out: Output, api, service_id: str | None, service_name: str | None, version: str):
    from kvcli.api.versioning import parse_version_spec, resolve_version

    spec = parse_version_spec(version)
    sid = resolve_service_id(out, api, service_id, service_name)
    return sid, resolve_version(api, sid, spec).number


def _create(
    state: State, resource_id, store_name, version, service_id, service_name, autoclone, name, json_out
) -> None:
    out = state.out
    if resource_id and store_name:
        raise UsageError("pass either --resource-id or --store-name, not both")
    if not resource_id and not store_name:
        raise UsageError("no KV store given", "pass the store ID with -r/--resource-id, or --store-name NAME")
    api = state.api(writes=True)
    if store_name:
        resource_id = api.find_store(store_name).id
    sid, number = _editable(out, api, service_id, service_name, version, autoclone)
    link = api.create_link(sid, number, resource_id, name or None)
    if json_out:
        out.emit_json(link_json(link))
    else:
        out.success(f'Created service resource link "{link.name}" ({link.id}) on service {sid} version {number}')


@app.command("create")
def create(
    ctx: typer.Context,
    version: VersionOpt,
    resource_id: ResourceIdOpt = None,
    store_name: LinkStoreNameOpt = None,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    name: LinkNameOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Link a KV store to a service version (alias: link).

    Example: kvcli resource-link create --service-id SVC --version latest --autoclone -r STORE_ID -n my_store
    """
    state = State.of(ctx)
    _create(state, resource_id, store_name, version, service_id, service_name, autoclone, name, json_out)


@app.command("list")
def list_(
    ctx: typer.Context,
    version: VersionOpt,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    json_out: JsonOpt = False,
    fmt: OutputFormatOpt = None,
) -> None:
    """List the resource links of a service version.

    Example: kvcli resource-link list --service-id SVC --version active --json
    """
    state = State.of(ctx)
    out = state.out
    fmt = output_format(fmt, json_out)
    api = state.api()
    sid, number = _readable(out, api, service_id, service_name, version)
    links = api.list_links(sid, number)
    if fmt in ("json", "ndjson"):
        (out.emit_json if fmt == "json" else out.emit_ndjson)([link_json(x) for x in links])
        return
    if not links:
        out.message(f"No resource links on service {sid} version {number}.")
        return
    out.print_table(
        fmt=fmt,
        columns=["ID", "Name", "Resource ID", "Type", "Created (UTC)", "Last edited (UTC)"],
        rows=[[x.id, x.name, x.resource_id, x.resource_type, human_time(x.created_at), human_time(x.updated_at)]
         for x in links],
        title=f"Service {sid} version {number}",
    )


def _describe(state: State, link_id, version, service_id, service_name, json_out) -> None:
    out = state.out
    api = state.api()
    sid, number = _readable(out, api, service_id, service_name, version)
    x = api.get_link(sid, number, link_id)
    if json_out:
        out.emit_json(link_json(x))
        return
    pairs = [
        ("ID", x.id),
        ("Name", x.name),
        ("Service ID", x.service_id),
        ("Service Version", str(x.version)),
        ("Resource ID", x.resource_id),
        ("Resource Type", x.resource_type),
        ("Created (UTC)", human_time(x.created_at)),
        ("Last edited (UTC)", human_time(x.updated_at)),
    ]
    if x.deleted_at is not None:
        pairs.append(("Deleted (UTC)", human_time(x.deleted_at)))
    out.print_fields(pairs)


@app.command("describe")
def describe(
    ctx: typer.Context,
    link_id: LinkIdOpt,
    version: VersionOpt,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one resource link (alias: get).

    Example: kvcli resource-link describe --service-id SVC --version 3 --id LINK_ID
    """
    state = State.of(ctx)
    _describe(state, link_id, version, service_id, service_name, json_out)


@app.command("update")
def update(
    ctx: typer.Context,
    link_id: LinkIdOpt,
    name: Annotated[str, typer.Option("--name", "-n", help="New link name.", show_default=False)],
    version: VersionOpt,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Rename a resource link.

    Example: kvcli resource-link update --service-id SVC --version latest --autoclone --id LINK_ID -n new_name
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid, number = _editable(out, api, service_id, service_name, version, autoclone)
    x = api.update_link(sid, number, link_id, name=name)
    if json_out:
        out.emit_json(link_json(x))
    else:
        out.success(f"Updated service resource link {x.id} on service {sid} version {number}")


def _delete(state: State, link_id, version, service_id, service_name, autoclone, json_out) -> None:
    out = state.out
    api = state.api(writes=True)
    sid, number = _editable(out, api, service_id, service_name, version, autoclone)
    api.delete_link(sid, number, link_id)
    if json_out:
        out.emit_json({"id": link_id, "service_id": sid, "service_version": number, "deleted": True})
    else:
        out.success(f"Deleted service resource link {link_id} from service {sid} version {number}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    link_id: LinkIdOpt,
    version: VersionOpt,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a resource link (alias: remove).

    Example: kvcli resource-link delete --service-id SVC --version latest --autoclone --id LINK_ID
    """
    state = State.of(ctx)
    _delete(state, link_id, version, service_id, service_name, autoclone, json_out)
