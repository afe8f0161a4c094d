"""`kvcli kv-store-entry …`: single keys, listing, deletion, and (delegated) bulk import.

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

from kvcli.api import validation
from kvcli.api.errors import PartialFailure, TooLarge, UsageError
from kvcli.api.models import Page, PutMode
from kvcli.cli import complete, core
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, human_time, resolve_store_id, rfc3339
from kvcli.cli.state import State, emit_json, err, message, output_format, print_fields, success


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
COUNT_CAP = 10_000  # keys counted (by listing) to show in a confirmation prompt
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
    state = State.current()
    api = state.api()
    sid = _store(api, store_id, store_name)
    if concurrency is None:
        from kvcli.api.fanout import DEFAULT_CONCURRENCY

        concurrency = 1 if state.target().kind == "local" else DEFAULT_CONCURRENCY
    many_keys.run_keys_file(api, sid, keys_file, operation=operation, concurrency=concurrency)


def _uint64(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= UINT64_MAX:
        raise typer.BadParameter(f"{value} is not a generation (a whole number from 0 to {UINT64_MAX})")
    return value


def _store(api, store_id: str | None, store_name: str | None) -> str:
    return resolve_store_id(api, store_id, store_name)


_require_key = core.require_key  # typer-free, shared with the fast entry point (kvcli.entry)


def _flag_conflicts(pairs: list[tuple[str, bool]]) -> None:
    """Refuse any two of the given flags together."""
    given = [name for name, on in pairs if on]
    if len(given) > 1:
        raise UsageError(f"{given[0]} and {given[1]} cannot be combined", f"use only one of {', '.join(given)}")


# ------------------------------------------------------------------------------------------------------ values
def _read_limited(stream: IO[bytes], limit: int, what: str) -> bytes:
    """Read at most ``limit`` bytes; more than that is refused without reading the rest."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            f"{what} holds more than {limit} bytes, the value size limit",
            "store a smaller value, or raise KVCLI_MAX_VALUE_BYTES for the local backend",
        )
    return data


def read_value(value: str | None, value_file: str | None) -> bytes:
    """The value bytes from --value (UTF-8) or --value-file PATH / - (stdin), checked against the size limit."""
    if value is not None and value_file is not None:
        raise UsageError("--value and --value-file cannot be combined", "use one of them")
    if value is None and value_file is None:
        raise UsageError(
            "no value given", "pass --value TEXT, --value-file PATH, or --value-file - to read stdin"
        )
    limit = validation.max_value_bytes()
    if value is not None:
        try:
            data = value.encode("utf-8", "surrogateescape")  # argv bytes that were not UTF-8 come back unchanged
        except UnicodeEncodeError:
            raise UsageError("--value is not valid text", "use --value-file for binary values") from None
        validation.check_value_size(len(data), limit)
        return data
    assert value_file is not None
    if value_file == "-":
        return _read_limited(sys.stdin.buffer, limit, "stdin")
    import os

    try:
        with open(value_file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            validation.check_value_size(size, limit)
            return _read_limited(fh, limit, value_file)
    except IsADirectoryError:
        raise UsageError(f"--value-file {value_file!r} is a directory", "pass a file, or - for stdin") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read --value-file {value_file!r}: {exc.strerror or exc}", "check the path and permissions"
        ) from None


# ------------------------------------------------------------------------------------------------------ create
@app.command("create")
def create(
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    key: KeyOpt = None,
    value: Annotated[
        str | None, typer.Option("--value", help="The value, as text (may be empty).", show_default=False)
    ] = None,
    value_file: Annotated[
        str | None,
        typer.Option(
            "--value-file", help="Read the value (any bytes) from this file, or from stdin with '-'.",
            metavar="PATH", show_default=False,
        ),
    ] = None,
    add: Annotated[bool, typer.Option("--add", help="Only create: fail if the key already exists.")] = False,
    append: Annotated[
        bool, typer.Option("--append", help="Append the value to the existing one (creates a missing key).")
    ] = False,
    prepend: Annotated[
        bool, typer.Option("--prepend", help="Prepend the value to the existing one (creates a missing key).")
    ] = False,
    background_fetch: Annotated[
        bool,
        typer.Option("--background-fetch", help="Let readers see the old value while caches refresh (Fastly)."),
    ] = False,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata", help="Metadata to store (up to 2000 bytes, no line breaks). Every write replaces it.",
            show_default=False,
        ),
    ] = None,
    if_generation_match: GenerationOpt = None,
    ttl: Annotated[
        int | None,
        typer.Option("--ttl", help="Expire the key after this many seconds.", min=1, metavar="SECONDS",
                     show_default=False),
    ] = None,
    # official bulk-import flags: handled by kvcli.cli.entry_bulk (see the delegation block below)
    file: Annotated[
        str | None,
        typer.Option("--file", help="Bulk import: read entries from this file.", metavar="PATH", show_default=False),
    ] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Bulk import: read entries from stdin.")] = False,
    dir_: Annotated[
        str | None,
        typer.Option("--dir", help="Bulk import: one entry per file of this directory (key = file name).",
                     metavar="PATH", show_default=False),
    ] = None,
    dir_allow_hidden: Annotated[
        bool, typer.Option("--dir-allow-hidden", help="With --dir, also import dot-files.")
    ] = False,
    dir_concurrency: Annotated[
        int, typer.Option("--dir-concurrency", help="With --dir, how many files are uploaded at once.", min=1)
    ] = 50,
    # kvcli bulk-import flags (kvcli.cli.entry_bulk; docs/bulk.md)
    bulk_format: Annotated[
        str | None,
        typer.Option("--format", help="Bulk import: input format (ndjson, wrangler, viceroy, setup-json, "
                     "fastly-toml, setup-toml); detected when omitted.", metavar="FORMAT", show_default=False),
    ] = None,
    toml_store: Annotated[
        str | None,
        typer.Option("--toml-store", help="Bulk import: the store to read from a fastly.toml.", metavar="NAME",
                     show_default=False),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", help="With --dir, include sub-directories (key = relative path).")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="Bulk import: batch requests in flight over HTTP (default 4).",
                     metavar="N", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Bulk import: entries per batch (default 1000 over HTTP).", metavar="N",
                     show_default=False),
    ] = None,
    batch_bytes: Annotated[
        int | None,
        typer.Option("--batch-bytes", help="Bulk import: encoded bytes per batch (default 8 MB over HTTP).",
                     metavar="BYTES", show_default=False),
    ] = None,
    max_errors: Annotated[
        int | None,
        typer.Option("--max-errors", help="Bulk import: stop once more than N entries failed (default: never).",
                     metavar="N", show_default=False),
    ] = None,
    failed_out: Annotated[
        str | None,
        typer.Option("--failed-out", help="Bulk import: write every failed entry to this NDJSON file.",
                     metavar="PATH", show_default=False),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Bulk import: continue an interrupted import of the same input.")
    ] = False,
    bulk_dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Bulk import: read and validate everything, write nothing.")
    ] = False,
    json_out: JsonOpt = False,
) -> int | None:
    """Insert or update one key (alias: insert); with --file, --stdin or --dir, import many.

    The value comes from --value (text, may be empty) or --value-file PATH ('-' reads stdin; any bytes).
    Every write replaces the metadata and changes the generation.

    Example: kvcli kv-store-entry create --store-name my-store -k greeting --value 'hello world'
    """
    # ---------------------------------------------------------------------------------------------------------
    # BULK IMPORT DELEGATION — everything about --file/--stdin/--dir lives in kvcli.cli.entry_bulk.run_import.
    # Bulk-only parameters are added to this signature and passed on below, every option as a keyword argument.
    # ---------------------------------------------------------------------------------------------------------
    sources = [name for name, on in (("--file", file is not None), ("--stdin", stdin), ("--dir", dir_ is not None))
               if on]
    if len(sources) > 1:
        raise UsageError(
            f"invalid flag combination: {' and '.join(sources)}", "use only one of --stdin, --file or --dir"
        )
    if sources:
        try:
            from kvcli.cli.entry_bulk import run_import
        except ModuleNotFoundError as exc:
            if exc.name != "kvcli.cli.entry_bulk":
                raise
            raise UsageError("bulk import is not available in this build") from None
        return run_import(
            store_id=store_id,
            store_name=store_name,
            key=key,
            value=value,
            value_file=value_file,
            add=add,
            append=append,
            prepend=prepend,
            background_fetch=background_fetch,
            metadata=metadata,
            if_generation_match=if_generation_match,
            ttl=ttl,
            file=file,
            stdin=stdin,
            dir=dir_,
            dir_allow_hidden=dir_allow_hidden,
            dir_concurrency=dir_concurrency,
            json_out=json_out,
            format=bulk_format,
            toml_store=toml_store,
            recursive=recursive,
            concurrency=concurrency,
            batch_size=batch_size,
            batch_bytes=batch_bytes,
            max_errors=max_errors,
            failed_out=failed_out,
            resume=resume,
            dry_run=bulk_dry_run,
        )
    bulk_only = [name for name, on in (
        ("--format", bulk_format is not None), ("--toml-store", toml_store is not None), ("--recursive", recursive),
        ("--concurrency", concurrency is not None), ("--batch-size", batch_size is not None),
        ("--batch-bytes", batch_bytes is not None), ("--max-errors", max_errors is not None),
        ("--failed-out", failed_out is not None), ("--resume", resume), ("--dry-run", bulk_dry_run),
    ) if on]
    if bulk_only:
        raise UsageError(f"{bulk_only[0]} only applies to a bulk import", "add --file, --stdin or --dir")
    # ------------------------------------------------------------------------------ end of bulk import delegation

    key = _require_key(key)
    _flag_conflicts([("--add", add), ("--append", append), ("--prepend", prepend)])
    _flag_conflicts([("--add", add), ("--if-generation-match", if_generation_match is not None)])
    validation.check_key(key)
    validation.check_metadata(metadata)
    data = read_value(value, value_file)
    mode = PutMode.ADD if add else PutMode.APPEND if append else PutMode.PREPEND if prepend else PutMode.UPSERT

    state = State.current()
    api = state.api(writes=True)
    sid = _store(api, store_id, store_name)
    api.put_item(
        sid,
        key,
        data,
        metadata=metadata,
        ttl=ttl,
        mode=mode,
        if_generation_match=if_generation_match,
        background_fetch=background_fetch,
    )
    if json_out:
        emit_json({"id": sid, "key": key})
    else:
        success(f"Created key '{key}' in KV Store {core.store_label(sid, store_name)}")
    return None


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
def _interactive() -> bool:
    """Whether a confirmation prompt will really be shown (so counting the keys for it is worth a listing)."""
    state = State.current()
    if state.auto_yes or state.non_interactive:
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def count_keys(api, store_id: str, prefix: str | None, cap: int | None = None) -> tuple[int, bool]:
    """How many keys would be listed, counting at most ``cap`` (default COUNT_CAP): (count, there_are_more)."""
    from kvcli.api.port import iter_keys

    cap = COUNT_CAP if cap is None else cap
    n = 0
    for page in iter_keys(api, store_id, prefix=prefix):
        n += len(page.items)
        if n > cap:
            return cap, True
    return n, False


def _what(prefix: str | None, sid: str, count: str = "") -> str:
    count = f"{count} " if count else ""
    if prefix is None:
        return f"ALL {count}entries from KV Store '{sid}'"
    return f"{count}entries with prefix {prefix!r} from KV Store '{sid}'"


@app.command("delete")
def delete(
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    key: KeyOpt = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Delete every key starting with this prefix.", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Delete every key of the store.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --key: succeed even if the key does not exist.")] = False,
    if_generation_match: GenerationOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-r", help="With --prefix/--all: deletions in parallel.")
    ] = 100,
    max_errors: Annotated[
        int, typer.Option("--max-errors", "-m", help="With --prefix/--all: stop after this many failed deletions.")
    ] = 100,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the keys that would be deleted and their count; delete nothing.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete one key (--key), every key with a prefix (--prefix) or every key (--all).

    --prefix and --all ask for confirmation (showing the count) unless -y is given; --dry-run shows what would go.

    Example: kvcli kv-store-entry delete --store-name my-store --prefix tmp/ --dry-run
    """
    modes = [name for name, on in (("--key", key is not None), ("--prefix", prefix is not None), ("--all", all_))
             if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined", "pass exactly one of --key, --prefix or --all")
    if not modes:
        raise UsageError("nothing to delete", "pass one of --key KEY, --prefix PREFIX or --all")
    if key is None:
        for name, on in (("--force", force), ("--if-generation-match", if_generation_match is not None)):
            if on:
                raise UsageError(f"{name} only applies to --key", f"drop {name}, or delete a single key with --key")
        if prefix == "":
            raise UsageError("the prefix is empty", "use --all to delete every key")
        from kvcli.bulk.delete import check_limits

        check_limits(concurrency, max_errors)
    else:
        key = _require_key(key)

    state = State.current()
    api = state.api(writes=not dry_run)
    sid = _store(api, store_id, store_name)
    if key is not None:
        _delete_one(api, sid, key, force=force, if_generation_match=if_generation_match, dry_run=dry_run,
                    json_out=json_out, store_name=store_name)
    elif dry_run:
        _dry_run_many(api, sid, prefix, json_out)
    else:
        _delete_many(state, api, sid, prefix, concurrency=concurrency, max_errors=max_errors, json_out=json_out)


def _delete_one(
    api, sid: str, key: str, *, force: bool, if_generation_match: int | None, dry_run: bool, json_out: bool,
    store_name: str | None = None,
) -> None:
    if dry_run:
        from kvcli.api.errors import NotFound

        try:
            info = api.describe_item(sid, key)
        except NotFound:
            if not force:
                raise
            keys: list[str] = []
        else:
            if if_generation_match is not None:
                _check_generation(key, info.generation, if_generation_match)
            keys = [key]
        _dry_run_output(sid, keys, json_out, store_name)
        return
    api.delete_item(sid, key, force=force, if_generation_match=if_generation_match)
    if json_out:
        emit_json({"key": key, "store_id": sid, "deleted": True})
    else:
        success(f"Deleted key '{key}' from KV Store {core.store_label(sid, store_name)}")


def _dry_run_output(sid: str, keys: list[str], json_out: bool, store_name: str | None = None) -> None:
    if json_out:
        emit_json({"dry_run": True, "store_id": sid, "keys": keys, "count": len(keys)})  # the streamed form's order
    else:
        out = _output_stream()
        for k in keys:
            out.write((k + "\n").encode("utf-8", "backslashreplace"))
        out.flush()
    from kvcli.cli.numbers import count

    message(f"Dry run: would delete {count(len(keys), 'key')} from KV Store {core.store_label(sid, store_name)}")


def _dry_run_many(api, sid: str, prefix: str | None, json_out: bool) -> None:
    """Stream the keys that would be deleted (a JSON object whose "keys" array is streamed with --json)."""
    from kvcli.api.port import iter_keys

    api.get_store(sid)  # a missing store is exit 3, not an empty list
    out: IO[bytes] | None = None
    count = 0

    def w(text: str) -> None:
        assert out is not None
        out.write(text.encode("utf-8", "backslashreplace"))

    for page in iter_keys(api, sid, prefix=prefix):
        if out is None:
            out = _output_stream()
            if json_out:
                w('{\n  "dry_run": true,\n  "store_id": ' + json.dumps(sid) + ',\n  "keys": [')
        for k in page.items:
            if json_out:
                w(("\n    " if count == 0 else ",\n    ") + json.dumps(k, ensure_ascii=False))
            else:
                w(k + "\n")
            count += 1
        out.flush()
    if out is None:  # pragma: no cover - iter_keys yields at least one page
        out = _output_stream()
    if json_out:
        w(("\n  ]" if count else "]") + f',\n  "count": {count}\n}}\n')
        out.flush()
    from kvcli.cli.numbers import count as counted

    message(f"Dry run: would delete {counted(count, 'key')} ({_what(prefix, sid)}); nothing deleted")


def _delete_many(
    state: State, api, sid: str, prefix: str | None, *, concurrency: int, max_errors: int, json_out: bool
) -> None:
    from kvcli.cli.bulk_delete import run_bulk_delete
    from kvcli.cli.numbers import count, num

    api.get_store(sid)  # a missing store fails before the prompt
    count_text = ""
    if _interactive():
        n, more = count_keys(api, sid, prefix)
        if n == 0 and not more:
            count_text = "0"
        else:
            count_text = f"more than {n:,}" if more else f"{n:,}"
    if count_text != "0":
        state.confirm_or_cancel(f"This will delete {_what(prefix, sid, count_text)}!")
    report = run_bulk_delete(api, sid, prefix, concurrency=concurrency, max_errors=max_errors, json_out=json_out)
    summary = {"store_id": sid, **report.to_json()}
    if json_out:
        emit_json(summary)
    if not report.ok:
        parts = [f"{count(report.deleted, 'key')} deleted, {num(report.failed)} failed"]
        if report.stopped_early:
            parts.append(f"stopped at --max-errors {max_errors}; other keys were not attempted and remain")
        if report.list_error:
            parts.append(f"listing the keys failed: {report.list_error}")
        raise PartialFailure(
            f"could not delete every key from KV Store '{sid}': " + "; ".join(parts),
            "re-run the command to retry the keys that remain",
            summary=summary,
        )
    if not json_out:
        if prefix is None:
            success(f"Deleted all keys from KV Store '{sid}'")
        else:
            success(f"Deleted {count(report.deleted, 'key')} from KV Store '{sid}'")

from kvcli.cli import entry_bulk as _entry_bulk  # noqa: E402,F401  registers export and sync
