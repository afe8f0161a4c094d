"""`kvcli resource-link …` (also `kvcli service resource-link …`): attach KV stores to a service version.

The group and a registry of its commands, each in a module of its own (imported only when that command runs or shows
its help: :mod:`kvcli.cli.lazy`). ``--help`` lists them in the registry's order.
"""

from __future__ import annotations

from kvcli.cli.lazy import lazy_app

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

app = lazy_app(
    "resource-link",
    COMMANDS,
    help="Link KV stores to a service version (create, list, describe, update, delete).",
    aliases=ALIASES,
    sort=False,
)
