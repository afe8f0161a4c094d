"""`kvcli kv-store list`: every KV store (its body is shared with the fast path: :mod:`kvcli.cli.store_bodies`)."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt, OutputFormatOpt
from kvcli.cli.state import State
from kvcli.cli.store_bodies import list_stores


def list_(ctx: typer.Context, json_out: JsonOpt = False, fmt: OutputFormatOpt = None) -> None:
    """List every KV store (all pages).

    Example: kvcli kv-store list --json
    """
    state = State.of(ctx)
    list_stores(state, json_out=json_out, fmt=fmt)  # the fast path (kvcli.cli.fast) runs it too
