"""`kvcli kv-store delete`: a KV store; with --all, its keys first (after a confirmation)."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import KvcliError
from kvcli.cli.core import store_label
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State

NOT_CHECKED = "links from service versions were not checked (the API cannot tell before the store is empty)"


def delete(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Delete every entry first, then the store.")] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-r", help="Parallel deletions with --all.")
    ] = 100,
    max_errors: Annotated[
        int, typer.Option("--max-errors", "-m", help="Stop emptying the store after this many failures.")
    ] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Delete a KV store; with --all, empty it first (asks for confirmation unless -y).

    Example: kvcli -y kv-store delete --store-name my-store --all
    """
    state = State.of(ctx)
    out = state.out
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    state.announce_backend()
    links_checked: bool | None = None
    if all_:
        from kvcli.cli.bulk_delete import check_delete_flags, run_bulk_delete

        check_delete_flags(concurrency, max_errors)
        # Every reason the store could not be deleted once empty (missing; linked from a service version) is
        # checked before any key goes. Fastly cannot answer that cheaply: then the prompt and --json say so.
        links_checked = api.check_store_deletable(sid)
        label = store_label(sid, store_name)
        warning = f"This will delete ALL entries from KV store {label} and then the store"
        if not links_checked:
            warning += f" ({NOT_CHECKED}: if one links the store, its keys are deleted and the store is kept)"
            if state.auto_yes or state.non_interactive:
                out.message(f"Note: {NOT_CHECKED} before emptying KV store {label}")
        state.confirm_or_cancel(warning)
        report = run_bulk_delete(state, api, sid, None, concurrency=concurrency, max_errors=max_errors, json_out=False)
        if not report.ok:
            from kvcli.api.errors import PartialFailure

            if json_out:
                out.emit_json(
                    {"id": sid, "deleted": False, "links_checked": links_checked, "entries": report.to_json()}
                )
            raise PartialFailure(
                f"could not empty KV store {sid}: {report.deleted} keys deleted, {report.failed} failed; "
                "the store was not deleted",
                "fix the errors above and re-run the command",
            )
        try:
            api.delete_store(sid)
        except KvcliError as exc:  # only possible where the links could not be checked, or changed meanwhile
            exc.message = (
                f"all {report.deleted} keys of KV store {sid} were deleted, but the store was not deleted: "
                + exc.message
            )
            raise
    else:
        api.delete_store(sid)
    if json_out:
        out.emit_json({"id": sid, "deleted": True} | ({"links_checked": links_checked} if all_ else {}))
    else:
        out.success(f"Deleted KV Store {store_label(sid, store_name)}")
