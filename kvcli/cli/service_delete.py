"""`kvcli service delete`."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, resolve_service_id
from kvcli.cli.state import State


def delete(
    ctx: typer.Context,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Deactivate the active version first, then delete.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a service with its versions and resource links (asks for confirmation unless -y).

    Example: kvcli -y service delete --service-name my-app --force
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid = resolve_service_id(out, api, service_id, service_name)
    svc = api.get_service(sid)
    state.confirm_or_cancel(f"This will delete service {svc.name!r} ({sid}) with all its versions and resource links")
    active = svc.active_version
    if active is not None and force:
        api.deactivate_version(sid, active)
        out.message(f"Deactivated version {active} of service {sid}.")
    api.delete_service(sid)
    if json_out:
        out.emit_json({"id": sid, "deleted": True})
    else:
        out.success(f"Deleted service {sid} ({svc.name!r})")
