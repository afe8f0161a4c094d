"""`kvcli service create`."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.models import SERVICE_TYPES
from kvcli.cli.options import JsonOpt
from kvcli.cli.service_options import service_json
from kvcli.cli.state import State


def _type(value: str) -> str:
    if value not in SERVICE_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(SERVICE_TYPES)}, got {value!r}")
    return value


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new service.", show_default=False)],
    type_: Annotated[
        str, typer.Option("--type", help="Service type: wasm (Compute) or vcl.", callback=_type)
    ] = "wasm",
    comment: Annotated[str, typer.Option("--comment", help="A comment for the service.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Create a service (it starts with an editable version 1).

    Example: kvcli service create --name my-app --type wasm
    """
    state = State.of(ctx)
    out = state.out
    svc = state.api(writes=True).create_service(name, type_, comment)
    if json_out:
        out.emit_json(service_json(svc))
    else:
        out.success(f"Created service {svc.id} ({svc.name!r}, type {svc.type})")
