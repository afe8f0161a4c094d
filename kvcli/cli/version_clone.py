"""`kvcli service version clone`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import service_and_version
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt, version_json
from kvcli.cli.state import State


def version_clone(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Copy a version (with its resource links) into a new editable version.

    Example: kvcli service version clone --service-id SVC --version active
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid, source = service_and_version(out, api, service_id, service_name, version)
    new = api.clone_version(sid, source.number)
    if json_out:
        out.emit_json(version_json(new))
    else:
        out.success(f"Cloned service {sid} version {source.number} to version {new.number}")
