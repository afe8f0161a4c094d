"""`kvcli kv-store-entry get`: one key's value, or many keys' as NDJSON (``--keys-file``).

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

from typing import Annotated

import typer

from kvcli.api.errors import UsageError
from kvcli.cli import entry_bodies
from kvcli.cli.entry_options import ConcurrencyOpt, GenerationOpt, KeyOpt, KeysFileOpt
from kvcli.cli.options import StoreIdOpt, StoreNameOpt
from kvcli.cli.state import State


def get(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    key: KeyOpt = None,
    if_generation_match: GenerationOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", "-j", help='Print {"<key>": "<base64 value>"} instead of the raw bytes.')
    ] = False,
    keys_file: KeysFileOpt = None,
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Print one key's value: the raw bytes, nothing added; with --keys-file, many keys as NDJSON.

    --keys-file prints {"key", "generation", "metadata", "value", "encoding"} per key: the value as text when it is
    UTF-8 ("encoding": "utf-8"), else in base64 ("encoding": "base64"). A missing key prints {"key", "line",
    "error", "message"} and the command exits 7 once every key was tried.

    Example: kvcli kv-store-entry get --store-name my-store -k greeting > greeting.txt
    """
    state = State.of(ctx)
    if keys_file is not None:
        from kvcli.cli.many_keys import run_from_flags

        run_from_flags(state, "get", keys_file, key, concurrency, store_id, store_name,
                   [("--if-generation-match", if_generation_match is not None)])  # fmt: skip
        return
    if concurrency is not None:
        raise UsageError("--concurrency only applies to --keys-file", "drop --concurrency")
    # the whole command is kvcli.cli.entry_bodies.get_entry, which the fast path (kvcli.cli.fast) runs too
    entry_bodies.get_entry(
        state,
        store_id=store_id,
        store_name=store_name,
        key=key,
        if_generation_match=if_generation_match,
        json_out=json_out,
    )
