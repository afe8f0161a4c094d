"""`kvcli kv-store create`: a new KV store, in a region if asked."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.models import LOCATIONS
from kvcli.cli.options import JsonOpt
from kvcli.cli.state import State
from kvcli.cli.store_bodies import store_json


def _location(value: str | None) -> str | None:
    """The canonical (upper-case) region for any spelling of it: ``-l eu`` sends ``EU``."""
    if value is None:
        return None
    canonical = value.strip().upper()
    if canonical not in LOCATIONS:
        choices = f"{', '.join(LOCATIONS[:-1])} or {LOCATIONS[-1]}"
        raise typer.BadParameter(f"must be one of {choices} in any case, got {value!r}")
    return canonical


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new KV store.", show_default=False)],
    location: Annotated[
        str | None,
        typer.Option(
            "--location", "-l", help="Region: US, EU, ASIA or AUS (any case).", callback=_location, show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a KV store.

    Example: kvcli kv-store create --name my-store --location EU
    """
    state = State.of(ctx)
    out = state.out
    store = state.api(writes=True).create_store(name, location)
    if json_out:
        out.emit_json(store_json(store))
    else:
        out.success(f"Created KV Store '{store.name}' ({store.id})")
