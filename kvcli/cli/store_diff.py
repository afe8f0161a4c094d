"""`kvcli kv-store diff`: compare two stores (or a prefix of each), across profiles and backends (docs/copy.md).

Exit 0 when they hold the same keys, values and metadata (and TTLs, where both backends say them); exit 8
(``exits.DIFFERENT``) when they differ, a code no error uses.
"""

from __future__ import annotations

from typing import Annotated

import click
import typer

from kvcli.api.errors import NotFound, UsageError
from kvcli.cli import exits
from kvcli.cli.numbers import count, num
from kvcli.cli.sides import Opened, find_store, open_backend, target_id
from kvcli.cli.state import Output, State, safe
from kvcli.cli.store_copy import FromOpt, FromProfileOpt, PrefixOpt, ToOpt, ToProfileOpt

LABELS = {"only_in_from": "only in from", "only_in_to": "only in to", "differs": "differs"}


def diff_cmd(
    ctx: typer.Context,
    a_name: FromOpt,
    b_name: ToOpt,
    from_profile: FromProfileOpt = None,
    to_profile: ToProfileOpt = None,
    prefix: PrefixOpt = None,
    keys_only: Annotated[bool, typer.Option("--keys-only", help="Compare the key sets only (no value read).")] = False,
    json_out: Annotated[bool, typer.Option("--json", "-j", help="Print the differences and counts as one JSON "
                                                                "document (same as --format json).")] = False,
    fmt: Annotated[str | None, typer.Option(
        "--format", "--output-format", help="text, json or ndjson (one line per difference, as found).",
        click_type=click.Choice(["text", "json", "ndjson"]), show_default=False)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-r", help="Reads in flight over HTTP.")] = 16,
) -> None:
    """Compare two stores: keys only in one, and keys whose value, metadata or TTL differ.

    Exit 0 when identical, 8 when they differ (errors keep their own codes).

    Example: kvcli --local kv-store diff --from photos --to-profile prod --to photos
    """
    state = State.of(ctx)
    out = state.out
    if json_out and fmt not in (None, "json"):
        raise UsageError(f"--json cannot be combined with --format {fmt}", "pass one of them")
    fmt = "json" if json_out else (fmt or "text")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (got {concurrency})", "pass -r 1 or more")
    if prefix is not None and not prefix:
        raise UsageError("--prefix is empty", "leave --prefix out to compare every key")
    sides: list[Opened] = []
    try:
        a = open_backend(state, from_profile)
        sides.append(a)
        b = open_backend(state, to_profile)
        sides.append(b)
        identical = _run(out, a, b, a_name, b_name, prefix=prefix, keys_only=keys_only, fmt=fmt,
                         concurrency=concurrency)
    finally:
        for side in sides:
            side.close()
    if not identical:
        raise click.exceptions.Exit(exits.DIFFERENT)


def _store(side: Opened, name: str, which: str, flag: str):
    store = find_store(side.api, name)
    if store is None:
        raise NotFound(f"no KV store named {name!r} or with that ID on the {which} ({side.where})",
                       f"check {flag} and {flag}-profile; kv-store list shows the stores")
    return store


def _run(out: Output, a: Opened, b: Opened, a_name: str, b_name: str, *, prefix: str | None, keys_only: bool, fmt: str,
         concurrency: int) -> bool:
    from kvcli.bulk.copy import Side
    from kvcli.bulk.diff import DiffRun

    sa, sb = _store(a, a_name, "source", "--from"), _store(b, b_name, "destination", "--to")
    left = Side(a.api, sa.id, f"KV store {sa.name!r} ({a.where})", target_id(a.target))
    right = Side(b.api, sb.id, f"KV store {sb.name!r} ({b.where})", target_id(b.target))
    run = DiffRun(left, right, prefix=prefix, keys_only=keys_only, concurrency=concurrency)
    stream = out.stdout
    collected: dict[str, list] = {"only_in_from": [], "only_in_to": [], "differs": []}
    if fmt == "ndjson":
        import json

        for d in run:
            stream.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
    elif fmt == "json":
        for d in run:
            collected[d.status].append({"key": d.key, "what": list(d.what)} if d.status == "differs" else d.key)
    else:
        for d in run:
            what = f" ({', '.join(d.what)})" if d.what else ""
            stream.write(f"{LABELS[d.status]}{what}\t{safe(d.key, keep_lines=False)}\n")
    stream.flush()
    c = run.counts
    if fmt == "json":
        out.emit_json({"identical": c.identical, "from": left.label, "to": right.label, "prefix": prefix,
                   "keys_only": keys_only, "ttl_compared": c.ttl_compared, "counts": c.to_json(), **collected})
    compared = f"{count(c.compared, 'key')} on both sides" + (" (keys only)" if keys_only else "")
    if c.identical:
        out.message(f"Identical: {compared}; {left.label} and {right.label} hold the same"
                    + (f" keys under {prefix!r}" if prefix else ""))
    else:
        by = ", ".join(f"{w} {num(n)}" for w, n in c.by_what.items())
        out.message(f"Differ: only in from {num(c.only_in_from)}, only in to {num(c.only_in_to)}, "
                    f"differs {num(c.differs)}" + (f" ({by})" if by else "") + f"; {compared}")
    if not keys_only and not c.ttl_compared:
        out.message("TTLs were not compared: a side does not say when items expire (Fastly's API does not)")
    return c.identical
