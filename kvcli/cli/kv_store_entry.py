"""`kvcli kv-store-entry …`: the group, its shared options, and get, describe and list.

``create`` is :mod:`kvcli.cli.entry_create` (a bulk import: :mod:`kvcli.cli.entry_bulk`), ``delete``
:mod:`kvcli.cli.entry_delete`, ``export`` and ``sync`` :mod:`kvcli.cli.entry_export` and :mod:`kvcli.cli.entry_sync`.

Every operation goes through the API port (:mod:`kvcli.api.port`), so it behaves the same on the embedded backend and
on Fastly. Values are bytes end to end; keys are printed verbatim.

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

import json
import sys
from collections.abc import Iterator
from typing import IO, Annotated

import click
import typer
from typer.core import TyperGroup

from kvcli.api.errors import UsageError
from kvcli.api.models import Page
from kvcli.cli import complete, core
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, human_time, resolve_store_id, rfc3339
from kvcli.cli.state import State, emit_json, err, message, output_format, print_fields


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
PAGE_SIZE = 1000  # keys asked for per list request when --limit is given
FORMATS = ("table", "json", "ndjson", "plain")

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


def _many_keys(operation: str, keys_file: str, key: str | None, concurrency: int | None, store_id: str | None,
               store_name: str | None, others: list[tuple[str, bool]]) -> None:
    """`get`/`describe --keys-file` (kvcli.cli.many_keys)."""
    if key is not None:
        raise UsageError("--key and --keys-file cannot be combined", "pass one key with --key, or a file of keys")
    for name, on in others:
        if on:
            raise UsageError(f"{name} does not apply to --keys-file", f"drop {name}")
    from kvcli.cli import many_keys

    many_keys.check_concurrency(concurrency)
    api = State.current().api()
    sid = _store(api, store_id, store_name)
    from kvcli.api.fanout import DEFAULT_CONCURRENCY
    from kvcli.api.port import limits_of

    # the embedded backend declares a single worker (SQLite in this process): its keys are read one after another
    concurrency = limits_of(api).concurrency(concurrency or DEFAULT_CONCURRENCY)
    many_keys.run_keys_file(api, sid, keys_file, operation=operation, concurrency=concurrency)


def _uint64(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= UINT64_MAX:
        raise typer.BadParameter(f"{value} is not a generation (a whole number from 0 to {UINT64_MAX})")
    return value


def _store(api, store_id: str | None, store_name: str | None) -> str:
    return resolve_store_id(api, store_id, store_name)


_require_key = core.require_key  # typer-free, shared with the fast entry point (kvcli.entry)


# ------------------------------------------------------------------------------------------------------ create
# kvcli.cli.entry_create: create (one key, or a bulk import handed to kvcli.cli.entry_bulk), registered here so that
# the commands keep their order in --help
from kvcli.cli import entry_create as _entry_create  # noqa: E402,F401
from kvcli.cli.entry_create import read_value  # noqa: E402,F401 - kept importable from here


# --------------------------------------------------------------------------------------------------------- get
@app.command("get")
def get(
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
    if keys_file is not None:
        _many_keys("get", keys_file, key, concurrency, store_id, store_name,
                   [("--if-generation-match", if_generation_match is not None)])  # fmt: skip
        return
    if concurrency is not None:
        raise UsageError("--concurrency only applies to --keys-file", "drop --concurrency")
    # the whole command is kvcli.cli.core.get_entry, which the fast entry point (kvcli.entry) runs too
    core.get_entry(
        State.current().api,
        store_id=store_id,
        store_name=store_name,
        key=key,
        if_generation_match=if_generation_match,
        json_out=json_out,
    )


_check_generation = core.check_generation
emit_json_line = core.emit_json_line


# ---------------------------------------------------------------------------------------------------- describe
def item_json(info) -> dict:
    """The official fields (generation as a string, key, metadata) then kvcli's extras."""
    return {
        "generation": str(info.generation),
        "key": info.key,
        "metadata": info.metadata,
        "size": info.size,
        "last_modified": rfc3339(info.last_modified),
        "expires_at": rfc3339(info.expires_at),
    }


@app.command("describe")
def describe(
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
    if keys_file is not None:
        _many_keys("describe", keys_file, key, concurrency, store_id, store_name, [])
        return
    if concurrency is not None:
        raise UsageError("--concurrency only applies to --keys-file", "drop --concurrency")
    key = _require_key(key)
    api = State.current().api()
    sid = _store(api, store_id, store_name)
    info = api.describe_item(sid, key)
    if json_out:
        emit_json(item_json(info))
        return
    print_fields(
        [
            ("Key", info.key),
            ("Generation", str(info.generation)),
            ("Metadata", info.metadata),
            ("Size", f"{info.size} byte{'' if info.size == 1 else 's'}"),
            ("Last modified (UTC)", human_time(info.last_modified)),
            ("Expires (UTC)", human_time(info.expires_at) if info.expires_at else "never"),
        ]
    )


# -------------------------------------------------------------------------------------------------------- list
def limited_pages(
    api, store_id: str, *, prefix: str | None, cursor: str | None, limit: int, consistency: str
) -> Iterator[Page[str]]:
    """Pages holding at most ``limit`` keys in all; each request asks for no more than remain, so the last page's
    ``next_cursor`` resumes exactly after the last key returned."""
    remaining = limit
    while remaining > 0:
        page = api.list_keys(
            store_id, prefix=prefix, cursor=cursor, limit=min(remaining, PAGE_SIZE), consistency=consistency
        )
        items = page.items[:remaining]
        remaining -= len(items)
        yield Page(items=items, next_cursor=page.next_cursor)
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def _printable(key: str) -> str:
    """Table mode only (a terminal): show control characters escaped instead of letting them act."""
    if key.isprintable():
        return key
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in key)


class KeyWriter:
    """Writes keys in one format as they arrive (nothing is collected), UTF-8 on a binary stream."""

    def __init__(self, fmt: str, out: IO[bytes]) -> None:
        self.fmt = fmt
        self.out = out
        self.count = 0

    def _w(self, text: str) -> None:
        # backslashreplace: a lone surrogate from a server becomes \udxxx, which is still valid inside JSON strings
        self.out.write(text.encode("utf-8", "backslashreplace"))

    def keys(self, keys: list[str]) -> None:
        fmt = self.fmt
        for k in keys:
            if fmt == "plain":
                self._w(k + "\n")
            elif fmt == "ndjson":
                self._w(json.dumps({"key": k}, ensure_ascii=False) + "\n")
            elif fmt == "json":
                self._w(("[\n  " if self.count == 0 else ",\n  ") + json.dumps(k, ensure_ascii=False))
            else:
                if self.count == 0:
                    self._w("Key\n---\n")
                self._w(_printable(k) + "\n")
            self.count += 1
        self.out.flush()

    def finish(self) -> None:
        if self.fmt == "json":
            self._w("\n]\n" if self.count else "[]\n")
        self.out.flush()


def _output_stream() -> IO[bytes]:
    sys.stdout.flush()
    return sys.stdout.buffer


@app.command("list")
def list_(
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
    if legacy_fmt is not None:
        if fmt is not None and fmt != legacy_fmt:
            raise UsageError(f"--output-format {fmt} and --format {legacy_fmt} disagree", "use --output-format only")
        fmt = legacy_fmt
    fmt = output_format(fmt, json_out)
    if concurrency is not None and not long_:
        raise UsageError("--concurrency only applies to --long", "drop --concurrency, or add --long")
    if long_:
        from kvcli.cli import many_keys

        many_keys.check_concurrency(concurrency)
    from kvcli.api.port import iter_keys

    api = State.current().api()
    sid = _store(api, store_id, store_name)
    prefix = prefix or None
    if long_:
        many_keys.list_long(api, sid, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency, fmt=fmt,
                            concurrency=concurrency)  # fmt: skip
        return
    if limit is None:
        pages = iter_keys(api, sid, prefix=prefix, cursor=cursor, consistency=consistency)
    else:
        pages = limited_pages(api, sid, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)
    writer: KeyWriter | None = None
    last: Page[str] | None = None
    for page in pages:
        if writer is None:  # nothing reaches stdout before the first page succeeded
            writer = KeyWriter(fmt, _output_stream())
        writer.keys(page.items)
        last = page
    if writer is None:  # pragma: no cover - both page iterators yield at least once
        writer = KeyWriter(fmt, _output_stream())
    writer.finish()
    if limit is not None and last is not None and last.next_cursor and writer.count >= limit:
        err(f"next cursor: {last.next_cursor}")
    if fmt == "table":
        message(f"{writer.count} key{'s' if writer.count != 1 else ''}" if writer.count else "No keys found.")


# ------------------------------------------------------------------------------------------------------ delete
# registered in this order (--help lists them so): delete, then export and sync
from kvcli.cli import entry_delete as _entry_delete  # noqa: E402,F401,I001
from kvcli.cli import entry_bulk as _entry_bulk  # noqa: E402,F401  registers export and sync
from kvcli.cli.entry_delete import count_keys  # noqa: E402,F401 - kept importable from here
