"""`kvcli service list`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, OutputFormatOpt, human_time
from kvcli.cli.service_options import service_json
from kvcli.cli.state import State, output_format


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
