"""`kvcli kv-store-entry describe`: one key's generation, metadata, size and times, or many keys' as NDJSON.

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

import typer

from kvcli.api.errors import UsageError
from kvcli.cli import entry_bodies
from kvcli.cli.entry_options import ConcurrencyOpt, KeyOpt, KeysFileOpt
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt
from kvcli.cli.state import State


def describe(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
    keys_file: KeysFileOpt = None,
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Show one key's generation, metadata, size, last modification and expiry (without reading its value).

    With --keys-file, one --json object per key as NDJSON; a missing key prints {"key", "line", "error", "message"}
    and the command exits 7 once every key was tried.

    Example: kvcli kv-store-entry describe --store-name my-store -k greeting --json
    """
    state = State.of(ctx)
    if keys_file is not None:
        from kvcli.cli.many_keys import run_from_flags

        run_from_flags(state, "describe", keys_file, key, concurrency, store_id, store_name, [])
        return
    if concurrency is not None:
        raise UsageError("--concurrency only applies to --keys-file", "drop --concurrency")
    entry_bodies.describe_entry(state, store_id=store_id, store_name=store_name, key=key, json_out=json_out)
