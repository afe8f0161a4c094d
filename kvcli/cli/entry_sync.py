"""``kv-store-entry sync``: flags → :class:`kvcli.ops.sync.SyncRequest`, the plan and its execution, rendered.

Importing this module registers the command on the ``kv-store-entry`` app.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import PartialFailure, UsageError
from kvcli.cli.bulk_progress import Progress, positive, progress_enabled, sigterm_as_interrupt
from kvcli.cli.numbers import count, num
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State

SYNC_DEFAULT_CONCURRENCY = 4  # kvcli.ops.sync.DEFAULT_CONCURRENCY, written here so --help needs no import


# -------------------------------------------------------------------------------------------------------- sync
def sync_cmd(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    dir_: Annotated[
        str | None, typer.Option("--dir", help="The directory the store should match (keys = relative paths).",
                                 metavar="PATH", show_default=False)
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Key prefix the directory maps to (e.g. 'static/').", show_default=False)
    ] = "",
    delete: Annotated[
        bool, typer.Option("--delete", help="Also delete keys (under --prefix) that have no file.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    dir_allow_hidden: Annotated[
        bool, typer.Option("--dir-allow-hidden", help="Also sync dot-files and dot-directories.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight over HTTP.", metavar="N")
    ] = SYNC_DEFAULT_CONCURRENCY,
    json_out: JsonOpt = False,
) -> int:
    """Make a store match a directory: upload new and changed files, and with --delete remove keys without a file.

    Changes are found without downloading values: each uploaded value's SHA-256 is kept in its metadata and compared
    with the file. Keys whose metadata has no such hash are re-uploaded once.

    Example: kvcli kv-store-entry sync --store-name site --dir ./public --delete --dry-run
    """
    state = State.of(ctx)
    out = state.out
    from kvcli.ops import sync as op

    positive("--concurrency", concurrency)
    if dir_ is None:
        raise UsageError("no directory given", "pass --dir PATH")
    api = state.api(writes=not dry_run)
    sid = resolve_store_id(api, store_id, store_name)
    planned = op.plan_sync(api, sid, op.SyncRequest(directory=dir_, prefix=prefix, delete=delete,
                                                    allow_hidden=dir_allow_hidden, concurrency=concurrency))
    plan = planned.plan
    for note in plan.notes:
        out.warning(note)
    counts = plan.counts()
    if not json_out:
        for u in plan.unreadable:
            out.err(f"cannot read {u.path}: {u.reason}; its keys are neither updated nor deleted")
    if dry_run:
        if json_out:
            out.emit_json(_sync_summary(sid, plan, dry_run=True, uploaded=0, deleted=0, errors=list(plan.errors)))
        else:
            stream = out.stdout
            for k in plan.add:
                stream.write(f"add     {k}\n")
            for k in plan.update:
                stream.write(f"update  {k}  ({plan.reasons.get(k, '')})\n")
            for k in plan.delete:
                stream.write(f"delete  {k}\n")
            stream.flush()
            for e in plan.errors:
                out.err(f"cannot compare {e['key']!r}: {e['detail']}")
            out.message(
                f"Plan: {num(counts['add'])} to add, {num(counts['update'])} to update, {num(counts['delete'])} to "
                f"delete, {num(counts['unchanged'])} unchanged (dry run: nothing was changed)"
            )
        if plan.unreadable:
            raise _unreadable_error(plan, dry_run=True)
        return 0

    if plan.delete:
        state.confirm_or_cancel(f"sync will delete {count(len(plan.delete), 'key')} from KV Store '{sid}'")

    report = None
    if plan.add or plan.update:
        source = planned.uploads()
        bar = Progress("Uploading", source.total_bytes, progress_enabled(state))
        try:
            with sigterm_as_interrupt():
                report = op.upload(api, sid, planned, source, on_progress=lambda r: bar.update(
                    source.position(), f"{r.written + r.failed:,} files"))
        finally:
            bar.stop()
    deleted = op.delete_unwanted(api, sid, planned) if plan.delete else None
    errors = list(plan.errors)
    if report is not None:
        for e in report.errors:
            if "entries" in e:  # a whole batch failed: one error for its files
                errors.append({"key": None, "keys": [e["first_key"], e["last_key"]], "entries": e["entries"],
                               "detail": f"{count(e['entries'], 'file')} ({e['first_key']!r} … {e['last_key']!r}) not "
                                         f"uploaded: {e['detail']}"})
            else:
                errors.append({"key": e.get("key"), "detail": e["detail"]})
    if deleted is not None:
        errors.extend({"key": k, "detail": m} for k, m in deleted.errors)
    uploaded = report.written if report is not None else 0
    failed = sum(e.get("entries", 1) for e in errors)
    summary = _sync_summary(sid, plan, dry_run=False, uploaded=uploaded,
                            deleted=deleted.deleted if deleted is not None else 0, errors=errors)
    if json_out:
        out.emit_json(summary)
    else:
        for e in errors[:50]:
            out.err(f"failed: {e['detail']}" if e.get("key") is None else f"failed: {e['key']!r}: {e['detail']}")
    out.message(
        f"Sync summary: uploaded {num(uploaded)} ({num(counts['add'])} new, {num(counts['update'])} changed), "
        f"deleted {num(summary['deleted'])}, unchanged {num(counts['unchanged'])}, failed {num(failed)}"
        + (f"; partial: {count(len(plan.unreadable), 'unreadable path')} skipped and {count(len(plan.kept), 'key')} "
           "under them kept" if plan.unreadable else "")
    )
    if plan.unreadable:
        exc = _unreadable_error(plan, dry_run=False)
        exc.summary = summary
        raise exc
    if errors:
        raise PartialFailure(f"sync incomplete: {count(failed, 'key')} failed", "re-run sync to retry them",
                             summary=summary)
    if not json_out:
        out.success(f"KV Store '{sid}' matches {dir_}")
    return 0


def _sync_summary(sid: str, plan, *, dry_run: bool, uploaded: int, deleted: int, errors: list[dict]) -> dict:
    """The one JSON document of ``sync --json``, dry run or not (docs/bulk.md): the plan (counts and keys) and what
    was done (0 uploaded and deleted in a dry run)."""
    counts = plan.counts()
    planned = plan.to_json(with_unchanged=False)
    return {
        "store_id": sid,
        "dry_run": dry_run,
        "success": not errors,
        "complete": plan.complete,
        "counts": counts,
        "plan": counts,  # the same counts under the name real runs used before (kept for scripts reading it)
        "add": planned["add"],
        "update": planned["update"],
        "delete": planned["delete"],
        "unchanged_keys": plan.unchanged,
        "uploaded": uploaded,
        "deleted": deleted,
        "unchanged": counts["unchanged"],
        "failed": sum(e.get("entries", 1) for e in errors),
        "errors": errors,
        "unreadable": planned["unreadable"],
        "kept": plan.kept,
    }


def _unreadable_error(plan, *, dry_run: bool) -> PartialFailure:
    """The error of a sync that could not read part of its directory (the keys under it were kept)."""
    first = plan.unreadable[0]
    more = f" and {count(len(plan.unreadable) - 1, 'more path')}" if len(plan.unreadable) > 1 else ""
    done = "planned" if dry_run else "synced"
    return PartialFailure(
        f"sync incomplete (partial): cannot read {first.path} ({first.reason}){more}; only what could be read was "
        f"{done}, and the {count(len(plan.kept), 'key')} under unreadable paths "
        f"{'was' if len(plan.kept) == 1 else 'were'} kept",
        "make the paths readable, checking their permissions, and sync again",
    )
