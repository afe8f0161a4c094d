"""`kvcli kv-store-entry create` (alias insert): one key from --value or --value-file; with --file, --stdin or --dir
the flags are handed to the bulk import (:mod:`kvcli.cli.entry_bulk`) as one typed record. This is the options' only
declaration; the work is :func:`kvcli.cli.create_body.create_command`, which the click-free fast path runs too.

No ``from __future__ import annotations`` here on purpose (see :mod:`kvcli.cli.entry_get`).
"""

from typing import Annotated

import typer

from kvcli.cli import create_body
from kvcli.cli.entry_options import GenerationOpt, KeyOpt
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt
from kvcli.cli.state import State
from kvcli.formats import INPUT_FORMATS


# ------------------------------------------------------------------------------------------------------ create
def create(
    ctx: typer.Context,
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
    # official bulk-import flags: handled by kvcli.cli.entry_bulk (create_body.create_command hands them over)
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
        typer.Option("--format", help=f"Bulk import: input format ({', '.join(INPUT_FORMATS)}); detected when "
                     "omitted.", metavar="FORMAT", show_default=False),
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
    # one key or a bulk import: the body the fast path (kvcli.cli.fast) runs too, given every option by name as
    # click parsed it (the parameters above are the options' declaration; they are not repeated here)
    return create_body.create_command(State.of(ctx), **ctx.params)
