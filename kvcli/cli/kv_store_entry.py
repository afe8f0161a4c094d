"""`kvcli kv-store-entry …`: the group, its shared options, and get, describe and list.

``create`` is :mod:`kvcli.cli.entry_create` (a bulk import: :mod:`kvcli.cli.entry_bulk`), ``delete``
:mod:`kvcli.cli.entry_delete`, ``export`` and ``sync`` :mod:`kvcli.cli.entry_export` and :mod:`kvcli.cli.entry_sync`.

Every operation goes through the API port (:mod:`kvcli.api.port`), so it behaves the same on the embedded backend and
on Fastly. Values are bytes end to end; keys are printed verbatim.

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from kvcli.api.errors import UsageError
from kvcli.cli import complete, core, entry_bodies
from kvcli.cli.entry_bodies import (  # noqa: F401  (click-free, shared with the fast path: kvcli.cli.fast)
    FORMATS,
    PAGE_SIZE,
    KeyWriter,
    item_json,
    limited_pages,
    read_value,
)
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State, output_format


class _EntryGroup(TyperGroup):
    """Resolves the hidden alias ``insert`` to ``create`` without building the command twice."""

    aliases = {"insert": "create"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


app = typer.Typer(
    name="kv-store-entry",
    cls=_EntryGroup,
    help="Create, read, list and delete KV store entries.",
    no_args_is_help=True,
)

UINT64_MAX = 2**64 - 1

KeyOpt = Annotated[
    str | None, typer.Option("--key", "-k", help="The key.", autocompletion=complete.keys, show_default=False)
]
GenerationOpt = Annotated[
    int | None,
    typer.Option(
        "--if-generation-match",
        help="Only act if the key's current generation is N (0 = the key must not exist).",
        callback=lambda v: _uint64(v),
        metavar="N",
        show_default=False,
    ),
]


KeysFileOpt = Annotated[
    str | None,
    typer.Option(
        "--keys-file", help="Read many keys, one per line, from this file ('-': stdin); print NDJSON, one object per "
        "key, in input order.", metavar="PATH", show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency", help="With --keys-file: requests in flight over HTTP (default 16).", metavar="N",
        show_default=False,
    ),
]


def _many_keys(state: State, operation: str, keys_file: str, key: str | None, concurrency: int | None,
               store_id: str | None, store_name: str | None, others: list[tuple[str, bool]]) -> None:
    """`get`/`describe --keys-file` (kvcli.cli.many_keys)."""
    if key is not None:
        raise UsageError("--key and --keys-file cannot be combined", "pass one key with --key, or a file of keys")
    for name, on in others:
        if on:
            raise UsageError(f"{name} does not apply to --keys-file", f"drop {name}")
    from kvcli.cli import many_keys

    many_keys.check_concurrency(concurrency)
    api = state.api()
    sid = _store(api, store_id, store_name)
    from kvcli.api.fanout import DEFAULT_CONCURRENCY
    from kvcli.api.port import limits_of

    # the embedded backend declares a single worker (SQLite in this process): its keys are read one after another
    concurrency = limits_of(api).concurrency(concurrency or DEFAULT_CONCURRENCY)
    many_keys.run_keys_file(api, sid, keys_file, operation=operation, concurrency=concurrency)


def _uint64(value: int | None) -> int | None:
    problem = core.generation_problem(value)  # the fast path (kvcli.cli.fast) checks with the same function
    if problem:
        raise typer.BadParameter(problem)
    return value


def _store(api, store_id: str | None, store_name: str | None) -> str:
    return resolve_store_id(api, store_id, store_name)


_require_key = core.require_key  # typer-free, shared with the fast entry point (kvcli.entry)
_output_stream = entry_bodies.output_stream


# ------------------------------------------------------------------------------------------------------ create
# kvcli.cli.entry_create: create (one key, or a bulk import handed to kvcli.cli.entry_bulk), registered here so that
# the commands keep their order in --help
from kvcli.cli import entry_create as _entry_create  # noqa: E402,F401


# --------------------------------------------------------------------------------------------------------- get
@app.command("get")
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
        _many_keys(state, "get", keys_file, key, concurrency, store_id, store_name,
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


_check_generation = core.check_generation
emit_json_line = core.emit_json_line


# ---------------------------------------------------------------------------------------------------- describe
@app.command("describe")
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
        _many_keys(state, "describe", keys_file, key, concurrency, store_id, store_name, [])
        return
    if concurrency is not None:
        raise UsageError("--concurrency only applies to --keys-file", "drop --concurrency")
    entry_bodies.describe_entry(state, store_id=store_id, store_name=store_name, key=key, json_out=json_out)


# -------------------------------------------------------------------------------------------------------- list
@app.command("list")
def list_(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only keys starting with this prefix.", show_default=False)
    ] = None,
    consistency: Annotated[
        str,
        typer.Option(
            "--consistency", help="strong (read the primary) or eventual (may be a few seconds old).",
            click_type=click.Choice(["strong", "eventual"]),
        ),
    ] = "strong",
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Print at most N keys; the cursor to continue is printed on stderr.", min=1,
                     metavar="N", show_default=False),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Continue a listing from a cursor printed by --limit.", show_default=False),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--output-format", help="table, plain, json or ndjson (default: table on a terminal, plain otherwise).",
            click_type=click.Choice(FORMATS), show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", "-j", help="Print one JSON array of keys (same as --output-format json).")
    ] = False,
    legacy_fmt: Annotated[
        str | None,
        typer.Option("--format", hidden=True, click_type=click.Choice(FORMATS), show_default=False,
                     help="Old name of --output-format."),
    ] = None,
    long_: Annotated[
        bool,
        typer.Option("--long", "--with-metadata", help="Also print each key's generation, size, metadata, last "
                     "modification and expiry (expiry: embedded backend and kvcli local serve only)."),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="With --long: describe requests in flight over HTTP (default 16).",
                     metavar="N", show_default=False),
    ] = None,
) -> None:
    """List keys, printing each page as it arrives (any number of keys, flat memory).

    Keys are printed verbatim: one per line (plain), a JSON array (json), {"key": …} lines (ndjson).
    With --long, one record per key: describe's fields as tab-separated columns (plain), a table, or describe's
    --json objects (json, ndjson).

    Example: kvcli kv-store-entry list --store-name my-store --prefix user/ --limit 100
    """
    state = State.of(ctx)
    if long_ or concurrency is not None:  # the plain listing is the fast path's body (kvcli.cli.entry_bodies)
        if legacy_fmt is not None:
            if fmt is not None and fmt != legacy_fmt:
                raise UsageError(f"--output-format {fmt} and --format {legacy_fmt} disagree",
                                 "use --output-format only")
            fmt = legacy_fmt
        fmt = output_format(fmt, json_out)
        if not long_:
            raise UsageError("--concurrency only applies to --long", "drop --concurrency, or add --long")
        from kvcli.cli import many_keys

        many_keys.check_concurrency(concurrency)
        api = state.api()
        sid = _store(api, store_id, store_name)
        many_keys.list_long(state.out, api, sid, prefix=prefix or None, cursor=cursor, limit=limit,
                            consistency=consistency, fmt=fmt, concurrency=concurrency)  # fmt: skip
        return
    entry_bodies.list_entries(
        state,
        store_id=store_id,
        store_name=store_name,
        prefix=prefix,
        consistency=consistency,
        limit=limit,
        cursor=cursor,
        fmt=fmt,
        json_out=json_out,
        legacy_fmt=legacy_fmt,
    )


# ------------------------------------------------------------------------------------------------------ delete
# registered in this order (--help lists them so): delete, then export and sync
from kvcli.cli import entry_delete as _entry_delete  # noqa: E402,F401,I001
from kvcli.cli import entry_bulk as _entry_bulk  # noqa: E402,F401  registers export and sync
from kvcli.cli.entry_delete import count_keys  # noqa: E402,F401 - kept importable from here
