"""`kvcli service update`."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import UsageError
from kvcli.cli.options import JsonOpt
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, resolve_service_id, service_json
from kvcli.cli.state import State


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
