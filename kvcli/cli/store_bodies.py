"""The body of ``kv-store list``, free of Typer and click (rich only for a table at a terminal).

The Typer command (:mod:`kvcli.cli.store_list`) and the click-free fast path (:mod:`kvcli.cli.fast`) both call it.
"""

from __future__ import annotations

from kvcli.api.models import Store
from kvcli.cli.core import human_time, rfc3339
from kvcli.cli.state import State, output_format


def store_json(store: Store) -> dict:
    """The official CLI's shape (Go field names), plus Location after the official fields."""
    return {
        "CreatedAt": rfc3339(store.created_at),
        "Name": store.name,
        "StoreID": store.id,
        "UpdatedAt": rfc3339(store.updated_at),
        "Location": store.location,
    }


def list_stores(state: State, *, json_out: bool, fmt: str | None) -> None:
    """`kv-store list`: every store, all pages (one request per page of 1,000 stores over HTTP)."""
    out = state.out
    from kvcli.api.port import iter_stores

    fmt = output_format(fmt, json_out)
    api = state.api()
    stores = list(iter_stores(api))
    if fmt == "ndjson":
        out.emit_ndjson([store_json(s) for s in stores])
        return
    if fmt == "json":
        out.emit_json({"Data": [store_json(s) for s in stores], "Meta": {"limit": "1000", "total": str(len(stores))}})
        return
    if not stores:
        out.message("No KV stores. Create one with: kvcli kv-store create --name NAME")
        return
    out.print_table(
        fmt=fmt,
        columns=["ID", "Name", "Location", "Created (UTC)", "Last edited (UTC)"],
        rows=[[s.id, s.name, s.location or "-", human_time(s.created_at), human_time(s.updated_at)] for s in stores],
    )
