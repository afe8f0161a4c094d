"""`kvcli kv-store-entry delete`: one key (--key), every key with a prefix (--prefix) or every key (--all), with a
confirmation showing the count and a dry run; bulk deletion is :mod:`kvcli.cli.bulk_delete` over
:mod:`kvcli.ops.delete`.

No ``from __future__ import annotations`` here on purpose (see :mod:`kvcli.cli.entry_get`).
"""

import json
import sys
from typing import IO, Annotated

import typer

from kvcli.api.errors import PartialFailure, UsageError
from kvcli.cli import entry_bodies
from kvcli.cli.entry_bodies import output_stream as _output_stream
from kvcli.cli.entry_options import GenerationOpt, KeyOpt
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt
from kvcli.cli.options import resolve_store_id as _store
from kvcli.cli.state import Output, State

COUNT_CAP = 10_000  # keys counted (by listing) to show in a confirmation prompt


# ------------------------------------------------------------------------------------------------------ delete
def _interactive(state: State) -> bool:
    """Whether a confirmation prompt will really be shown (so counting the keys for it is worth a listing)."""
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


def delete(
    ctx: typer.Context,
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
    state = State.of(ctx)
    out = state.out
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
        from kvcli.cli.bulk_delete import check_delete_flags

        check_delete_flags(concurrency, max_errors)
    else:  # one key: the body the fast path (kvcli.cli.fast) runs too
        entry_bodies.delete_entry(state, store_id=store_id, store_name=store_name, key=key, force=force,
                                  if_generation_match=if_generation_match, dry_run=dry_run, json_out=json_out)
        return

    api = state.api(writes=not dry_run)
    sid = _store(api, store_id, store_name)
    if dry_run:
        _dry_run_many(out, api, sid, prefix, json_out)
    else:
        _delete_many(state, api, sid, prefix, concurrency=concurrency, max_errors=max_errors, json_out=json_out)


def _dry_run_many(out: Output, api, sid: str, prefix: str | None, json_out: bool) -> None:
    """Stream the keys that would be deleted (a JSON object whose "keys" array is streamed with --json)."""
    from kvcli.api.port import iter_keys

    api.get_store(sid)  # a missing store is exit 3, not an empty list
    stream: IO[bytes] | None = None
    count = 0

    def w(text: str) -> None:
        assert stream is not None
        stream.write(text.encode("utf-8", "backslashreplace"))

    for page in iter_keys(api, sid, prefix=prefix):
        if stream is None:
            stream = _output_stream()
            if json_out:
                w('{\n  "dry_run": true,\n  "store_id": ' + json.dumps(sid) + ',\n  "keys": [')
        for k in page.items:
            if json_out:
                w(("\n    " if count == 0 else ",\n    ") + json.dumps(k, ensure_ascii=False))
            else:
                w(k + "\n")
            count += 1
        stream.flush()
    if stream is None:  # pragma: no cover - iter_keys yields at least one page
        stream = _output_stream()
    if json_out:
        w(("\n  ]" if count else "]") + f',\n  "count": {count}\n}}\n')
        stream.flush()
    from kvcli.cli.numbers import count as counted

    out.message(f"Dry run: would delete {counted(count, 'key')} ({_what(prefix, sid)}); nothing deleted")


def _delete_many(
    state: State, api, sid: str, prefix: str | None, *, concurrency: int, max_errors: int, json_out: bool
) -> None:
    out = state.out
    from kvcli.cli.bulk_delete import run_bulk_delete
    from kvcli.cli.numbers import count, num

    api.get_store(sid)  # a missing store fails before the prompt
    count_text = ""
    if _interactive(state):
        n, more = count_keys(api, sid, prefix)
        if n == 0 and not more:
            count_text = "0"
        else:
            count_text = f"more than {n:,}" if more else f"{n:,}"
    if count_text != "0":
        state.confirm_or_cancel(f"This will delete {_what(prefix, sid, count_text)}!")
    report = run_bulk_delete(state, api, sid, prefix, concurrency=concurrency, max_errors=max_errors, json_out=json_out)
    summary = {"store_id": sid, **report.to_json()}
    if json_out:
        out.emit_json(summary)
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
            out.success(f"Deleted all keys from KV Store '{sid}'")
        else:
            out.success(f"Deleted {count(report.deleted, 'key')} from KV Store '{sid}'")
