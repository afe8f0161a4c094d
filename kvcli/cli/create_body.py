"""The body of ``kv-store-entry create`` with every flag, free of Typer, click and rich: one key
(:func:`kvcli.cli.entry_bodies.create_entry`), or with --file, --stdin or --dir the bulk import
(:func:`kvcli.cli.entry_bulk.run_import`).

The Typer command (:mod:`kvcli.cli.entry_create`, the options' only declaration) and the click-free fast path
(:mod:`kvcli.cli.fast`) both call :func:`create_command`, so a bulk import prints, sends and exits alike on both.
"""

from __future__ import annotations

from kvcli.api.errors import UsageError
from kvcli.cli.entry_bodies import create_entry
from kvcli.cli.state import State


def create_command(
    state: State,
    *,
    store_id: str | None,
    store_name: str | None,
    key: str | None,
    value: str | None,
    value_file: str | None,
    add: bool,
    append: bool,
    prepend: bool,
    background_fetch: bool,
    metadata: str | None,
    if_generation_match: int | None,
    ttl: int | None,
    file: str | None,
    stdin: bool,
    dir_: str | None,
    dir_allow_hidden: bool,
    dir_concurrency: int,
    bulk_format: str | None,
    toml_store: str | None,
    recursive: bool,
    concurrency: int | None,
    batch_size: int | None,
    batch_bytes: int | None,
    max_errors: int | None,
    failed_out: str | None,
    resume: bool,
    bulk_dry_run: bool,
    json_out: bool,
) -> int | None:
    """`kv-store-entry create` with every flag: one key (:func:`create_entry`), or with --file, --stdin or --dir the
    bulk import (:func:`kvcli.cli.entry_bulk.run_import`, which takes the flags as one typed record); its exit code."""
    sources = [name for name, on in (("--file", file is not None), ("--stdin", stdin), ("--dir", dir_ is not None))
               if on]  # fmt: skip
    if len(sources) > 1:
        raise UsageError(
            f"invalid flag combination: {' and '.join(sources)}", "use only one of --stdin, --file or --dir"
        )
    if sources:
        try:
            from kvcli.cli.entry_bulk import ImportFlags, run_import
        except ModuleNotFoundError as exc:
            if exc.name != "kvcli.cli.entry_bulk":
                raise
            raise UsageError("bulk import is not available in this build") from None
        return run_import(state, ImportFlags(
            store_id=store_id, store_name=store_name, key=key, value=value, value_file=value_file, add=add,
            append=append, prepend=prepend, background_fetch=background_fetch, metadata=metadata,
            if_generation_match=if_generation_match, ttl=ttl, file=file, stdin=stdin, dir=dir_,
            dir_allow_hidden=dir_allow_hidden, dir_concurrency=dir_concurrency, json_out=json_out, format=bulk_format,
            toml_store=toml_store, recursive=recursive, concurrency=concurrency, batch_size=batch_size,
            batch_bytes=batch_bytes, max_errors=max_errors, failed_out=failed_out, resume=resume, dry_run=bulk_dry_run,
        ))  # fmt: skip
    bulk_only = [name for name, on in (
        ("--format", bulk_format is not None), ("--toml-store", toml_store is not None), ("--recursive", recursive),
        ("--concurrency", concurrency is not None), ("--batch-size", batch_size is not None),
        ("--batch-bytes", batch_bytes is not None), ("--max-errors", max_errors is not None),
        ("--failed-out", failed_out is not None), ("--resume", resume), ("--dry-run", bulk_dry_run),
    ) if on]  # fmt: skip
    if bulk_only:
        raise UsageError(f"{bulk_only[0]} only applies to a bulk import", "add --file, --stdin or --dir")
    create_entry(
        state, store_id=store_id, store_name=store_name, key=key, value=value, value_file=value_file, add=add,
        append=append, prepend=prepend, background_fetch=background_fetch, metadata=metadata,
        if_generation_match=if_generation_match, ttl=ttl, json_out=json_out,
    )
    return None
