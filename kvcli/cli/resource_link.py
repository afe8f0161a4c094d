"""`kvcli resource-link …` (also `kvcli service resource-link …`): attach KV stores to a service version.

The group and a registry of its commands, each in a module of its own (imported only when that command runs or shows
its help: :mod:`kvcli.cli.lazy`). ``--help`` lists them in the registry's order.
"""

from __future__ import annotations

import typer

from kvcli.cli.lazy import lazy_group

#: command name -> (module, function), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("kvcli.cli.link_create", "create"),
    "list": ("kvcli.cli.link_list", "list_"),
    "describe": ("kvcli.cli.link_describe", "describe"),
    "update": ("kvcli.cli.link_update", "update"),
    "delete": ("kvcli.cli.link_delete", "delete"),
}
#: alias -> command name (never listed in --help; the command's help names it)
ALIASES = {"link": "create", "get": "describe", "remove": "delete"}

app = typer.Typer(
    name="resource-link",
    cls=lazy_group(COMMANDS, aliases=ALIASES, sort=False),
    help="Link KV stores to a service version (create, list, describe, update, delete).",
    no_args_is_help=True,
)


@app.callback()
def group() -> None:
    # typer builds a group only from an app that has a callback or commands; every command here is in the registry
    pass
