"""`kvcli resource-link update`."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.cli.link_options import LinkIdOpt
from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import editable
from kvcli.cli.service_options import AutocloneOpt, ServiceIdOpt, ServiceNameOpt, VersionOpt, link_json
from kvcli.cli.state import State


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
    sid, number = editable(out, api, service_id, service_name, version, autoclone)
    x = api.update_link(sid, number, link_id, name=name)
    if json_out:
        out.emit_json(link_json(x))
    else:
        out.success(f"Updated service resource link {x.id} on service {sid} version {number}")
