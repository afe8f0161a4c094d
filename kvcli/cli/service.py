"""`kvcli service …`: services and their versions, plus `service resource-link …` (the official path).

The group and a registry of its commands, each in a module of its own (imported only when that command runs or shows
its help: :mod:`kvcli.cli.lazy`); ``version`` and ``resource-link`` are groups of their own, with registries of theirs.
``--help`` lists them in the registry's order.
"""

from __future__ import annotations

from kvcli.cli.lazy import lazy_app

#: command name -> (module, function or Typer app), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("kvcli.cli.service_create", "create"),
    "list": ("kvcli.cli.service_list", "list_"),
    "describe": ("kvcli.cli.service_describe", "describe"),
    "update": ("kvcli.cli.service_update", "update"),
    "delete": ("kvcli.cli.service_delete", "delete"),
    "version": ("kvcli.cli.service_version", "app"),
    "resource-link": ("kvcli.cli.resource_link", "app"),
}
#: alias -> command name (never listed in --help; the command's help names it)
ALIASES = {"get": "describe"}

app = lazy_app(
    "service",
    COMMANDS,
    help="Create, list, describe, update and delete services; manage their versions and resource links.",
    aliases=ALIASES,
    sort=False,
)
