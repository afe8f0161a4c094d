"""Options shared by several commands (one definition each, so help and behaviour stay the same)."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import UsageError

JsonOpt = Annotated[bool, typer.Option("--json", "-j", help="Print machine-readable JSON on stdout.")]
StoreIdOpt = Annotated[
    str | None,
    typer.Option("--store-id", "-s", help="ID of the KV store.", autocompletion=None, show_default=False),
]
StoreNameOpt = Annotated[
    str | None, typer.Option("--store-name", help="Name of the KV store (instead of --store-id).", show_default=False)
]


def resolve_store_id(api, store_id: str | None, store_name: str | None) -> str:
    """The store ID from --store-id, or looked up from --store-name; exactly one is required."""
    if store_id and store_name:
        raise UsageError("pass either --store-id or --store-name, not both")
    if store_id:
        return store_id
    if store_name:
        return api.find_store(store_name).id
    raise UsageError("no store given", "pass --store-id ID or --store-name NAME")


def rfc3339(dt) -> str | None:
    if dt is None:
        return None
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_time(dt) -> str:
    if dt is None:
        return "-"
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
