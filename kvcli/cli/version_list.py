"""`kvcli service version list`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, OutputFormatOpt
from kvcli.cli.service_common import versions_table
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, resolve_service_id, version_json
from kvcli.cli.state import State, output_format


def version_list(
    ctx: typer.Context,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    json_out: JsonOpt = False,
    fmt: OutputFormatOpt = None,
) -> None:
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
    versions_table(out, versions, title=f"Service {sid}", fmt=fmt)
