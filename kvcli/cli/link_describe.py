"""`kvcli resource-link describe` (alias: get)."""

from __future__ import annotations

import typer

from kvcli.cli.link_options import LinkIdOpt
from kvcli.cli.options import JsonOpt, human_time
from kvcli.cli.service_common import service_and_version
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt, link_json
from kvcli.cli.state import State


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
    out = state.out
    api = state.api()
    sid, v = service_and_version(out, api, service_id, service_name, version)
    x = api.get_link(sid, v.number, link_id)
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
