"""`kvcli kv-store …`: create, list, describe (get) and delete KV stores."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.api.errors import KvcliError
from kvcli.api.models import LOCATIONS
from kvcli.cli.core import store_label
from kvcli.cli.lazy import lazy_group
from kvcli.cli.options import JsonOpt, OutputFormatOpt, StoreIdOpt, StoreNameOpt, human_time, resolve_store_id
from kvcli.cli.state import State
from kvcli.cli.store_bodies import list_stores, store_json

NOT_CHECKED = "links from service versions were not checked (the API cannot tell before the store is empty)"

#: commands in modules of their own, imported only when they run: name -> (module, function)
LAZY_COMMANDS = {
    "copy": ("kvcli.cli.store_copy", "copy_cmd"),
    "diff": ("kvcli.cli.store_diff", "diff_cmd"),
}


#: alias -> command name (never listed in --help; the command's help names it)
ALIASES = {"get": "describe"}

app = typer.Typer(name="kv-store", cls=lazy_group(LAZY_COMMANDS, aliases=ALIASES), help="Create, list, describe, "
                  "delete, copy and compare KV stores.", no_args_is_help=True)


def _location(value: str | None) -> str | None:
    """The canonical (upper-case) region for any spelling of it: ``-l eu`` sends ``EU``."""
    if value is None:
        return None
    canonical = value.strip().upper()
    if canonical not in LOCATIONS:
        choices = f"{', '.join(LOCATIONS[:-1])} or {LOCATIONS[-1]}"
        raise typer.BadParameter(f"must be one of {choices} in any case, got {value!r}")
    return canonical


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new KV store.", show_default=False)],
    location: Annotated[
        str | None,
        typer.Option(
            "--location", "-l", help="Region: US, EU, ASIA or AUS (any case).", callback=_location, show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a KV store.

    Example: kvcli kv-store create --name my-store --location EU
    """
    state = State.of(ctx)
    out = state.out
    store = state.api(writes=True).create_store(name, location)
    if json_out:
        out.emit_json(store_json(store))
    else:
        out.success(f"Created KV Store '{store.name}' ({store.id})")


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False, fmt: OutputFormatOpt = None) -> None:
    """List every KV store (all pages).

    Example: kvcli kv-store list --json
    """
    state = State.of(ctx)
    list_stores(state, json_out=json_out, fmt=fmt)  # the fast path (kvcli.cli.fast) runs it too


def _describe(state: State, store_id: str | None, store_name: str | None, json_out: bool) -> None:
    out = state.out
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    store = api.get_store(sid)
    if json_out:
        out.emit_json(store_json(store))
        return
    out.print_fields(
        [
            ("ID", store.id),
            ("Name", store.name),
            ("Location", store.location or "-"),
            ("Created (UTC)", human_time(store.created_at)),
            ("Last edited (UTC)", human_time(store.updated_at)),
        ]
    )


@app.command("describe")
def describe(
    ctx: typer.Context, store_id: StoreIdOpt = None, store_name: StoreNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Show one KV store (alias: get).

    Example: kvcli kv-store describe --store-name my-store
    """
    state = State.of(ctx)
    _describe(state, store_id, store_name, json_out)


@app.command("delete")
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
