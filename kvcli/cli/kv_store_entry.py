"""`kvcli kv-store-entry …`: single keys, listing, deletion, and (delegated) bulk import.

Every operation goes through the API port (:mod:`kvcli.api.port`), so it behaves the same on the embedded backend and
on Fastly. Values are bytes end to end; keys are printed verbatim.

No ``from __future__ import annotations`` here on purpose: Typer builds these commands on every run, and with string
annotations it must ``eval`` every parameter's ``Annotated[…]`` again (about 5x slower for ``create``).
"""

import json
import sys
from typing import IO, Annotated

import click
import typer
from typer.core import TyperGroup

from kvcli.api.errors import PartialFailure, UsageError
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
from kvcli.cli.state import State, emit_json, message, success


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
COUNT_CAP = 10_000  # keys counted (by listing) to show in a confirmation prompt

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

    entry_bodies.create_entry(
        State.current(),
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
        json_out=json_out,
    )
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
) -> None:
    """Print one key's value: the raw bytes, nothing added.

    Example: kvcli kv-store-entry get --store-name my-store -k greeting > greeting.txt
    """
    # the whole command is kvcli.cli.entry_bodies.get_entry, which the fast path (kvcli.cli.fast) runs too
    entry_bodies.get_entry(
        State.current(),
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
    store_id: StoreIdOpt = None, store_name: StoreNameOpt = None, key: KeyOpt = None, json_out: JsonOpt = False
) -> None:
    """Show one key's generation, metadata, size, last modification and expiry (without reading its value).

    Example: kvcli kv-store-entry describe --store-name my-store -k greeting --json
    """
    entry_bodies.describe_entry(State.current(), store_id=store_id, store_name=store_name, key=key, json_out=json_out)


# -------------------------------------------------------------------------------------------------------- list
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
) -> None:
    """List keys, printing each page as it arrives (any number of keys, flat memory).

    Keys are printed verbatim: one per line (plain), a JSON array (json), {"key": …} lines (ndjson).

    Example: kvcli kv-store-entry list --store-name my-store --prefix user/ --limit 100
    """
    entry_bodies.list_entries(
        State.current(),
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
    else:  # one key: the body the fast path (kvcli.cli.fast) runs too
        entry_bodies.delete_entry(State.current(), store_id=store_id, store_name=store_name, key=key, force=force,
                                  if_generation_match=if_generation_match, dry_run=dry_run, json_out=json_out)
        return

    state = State.current()
    api = state.api(writes=not dry_run)
    sid = _store(api, store_id, store_name)
    if dry_run:
        _dry_run_many(api, sid, prefix, json_out)
    else:
        _delete_many(state, api, sid, prefix, concurrency=concurrency, max_errors=max_errors, json_out=json_out)


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
