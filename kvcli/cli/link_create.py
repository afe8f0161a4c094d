"""`kvcli resource-link create` (alias: link)."""

from __future__ import annotations

import typer

from kvcli.api.errors import UsageError
from kvcli.cli.link_options import LinkNameOpt, LinkStoreNameOpt, ResourceIdOpt
from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import editable
from kvcli.cli.service_options import AutocloneOpt, ServiceIdOpt, ServiceNameOpt, VersionOpt, link_json
from kvcli.cli.state import State


def create(
    ctx: typer.Context,
    version: VersionOpt,
    resource_id: ResourceIdOpt = None,
    store_name: LinkStoreNameOpt = None,
    service_id: ServiceIdOpt = None,
    service_name: ServiceNameOpt = None,
    autoclone: AutocloneOpt = False,
    name: LinkNameOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Link a KV store to a service version (alias: link).

    Example: kvcli resource-link create --service-id SVC --version latest --autoclone -r STORE_ID -n my_store
    """
    state = State.of(ctx)
    out = state.out
    if resource_id and store_name:
        raise UsageError("pass either --resource-id or --store-name, not both")
    if not resource_id and not store_name:
        raise UsageError("no KV store given", "pass the store ID with -r/--resource-id, or --store-name NAME")
    api = state.api(writes=True)
    if store_name:
        resource_id = api.find_store(store_name).id
    sid, number = editable(out, api, service_id, service_name, version, autoclone)
    link = api.create_link(sid, number, resource_id, name or None)
    if json_out:
        out.emit_json(link_json(link))
    else:
        out.success(f'Created service resource link "{link.name}" ({link.id}) on service {sid} version {number}')
