"""`kvcli service version update`."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import editable
from kvcli.cli.service_options import AutocloneOpt, ServiceIdOpt, ServiceNameOpt, VersionOpt, version_json
from kvcli.cli.state import State


def version_update(
    ctx: typer.Context,
    version: VersionOpt,
    comment: Annotated[str, typer.Option("--comment", help='New comment ("" clears it).', show_default=False)],
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Change the comment of a version (an active or locked one only with --autoclone: its clone is changed).

    Example: kvcli service version update --service-id SVC --version latest --comment "add the config store"
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid, number = editable(out, api, service_id, service_name, version, autoclone)
    done = api.update_version(sid, number, comment)
    if json_out:
        out.emit_json(version_json(done))
    else:
        out.success(f"Updated service {sid} version {done.number}")
