"""`kvcli kv-store describe` (alias get): one KV store's ID, name, location and times."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, human_time, resolve_store_id
from kvcli.cli.state import State
from kvcli.cli.store_bodies import store_json


def _describe(state: State, store_id: str | None, store_name: str | None, json_out: bool) -> None:
    out = state.out
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    store = api.get_store(sid)
    if json_out:
        out.emit_json(store_json(store))
        return
    out.print_fields(
        [
            ("ID", store.id),
            ("Name", store.name),
            ("Location", store.location or "-"),
            ("Created (UTC)", human_time(store.created_at)),
            ("Last edited (UTC)", human_time(store.updated_at)),
        ]
    )


def describe(
    ctx: typer.Context, store_id: StoreIdOpt = None, store_name: StoreNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Show one KV store (alias: get).

    Example: kvcli kv-store describe --store-name my-store
    """
    state = State.of(ctx)
    _describe(state, store_id, store_name, json_out)
