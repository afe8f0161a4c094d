"""`kvcli resource-link list`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, OutputFormatOpt, human_time
from kvcli.cli.service_common import service_and_version
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt, link_json
from kvcli.cli.state import State, output_format


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
    sid, v = service_and_version(out, api, service_id, service_name, version)
    number = v.number
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
