"""`kvcli service describe` (alias: get)."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, human_time
from kvcli.cli.service_common import versions_table
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, resolve_service_id, service_json
from kvcli.cli.state import State


def describe(
    ctx: typer.Context, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Show a service and its versions (alias: get).

    Example: kvcli service describe --service-name my-app
    """
    state = State.of(ctx)
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
        versions_table(out, svc.versions, title="Versions", label="Version")
