"""`kvcli kv-store-entry list`: keys page by page; with ``--long``, each key's describe fields.

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

from typing import Annotated

import click
import typer

from kvcli.api.errors import UsageError
from kvcli.cli import entry_bodies
from kvcli.cli.entry_bodies import FORMATS
from kvcli.cli.options import StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State, output_format


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
        sid = resolve_store_id(api, store_id, store_name)
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
