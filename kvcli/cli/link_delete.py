"""`kvcli resource-link delete` (alias: remove)."""

from __future__ import annotations

import typer

from kvcli.cli.link_options import LinkIdOpt
from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import editable
from kvcli.cli.service_options import AutocloneOpt, ServiceIdOpt, ServiceNameOpt, VersionOpt
from kvcli.cli.state import State


def delete(
    ctx: typer.Context,
    link_id: LinkIdOpt,
    version: VersionOpt,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a resource link (alias: remove).

    Example: kvcli resource-link delete --service-id SVC --version latest --autoclone --id LINK_ID
    """
    state = State.of(ctx)
    out = state.out
    api = state.api(writes=True)
    sid, number = editable(out, api, service_id, service_name, version, autoclone)
    api.delete_link(sid, number, link_id)
    if json_out:
        out.emit_json({"id": link_id, "service_id": sid, "service_version": number, "deleted": True})
    else:
        out.success(f"Deleted service resource link {link_id} from service {sid} version {number}")
