"""`kvcli kv-store-entry …`: the group, a registry of its commands, each in a module of its own.

A command's module is imported only when that command runs (or for its own ``--help``): :mod:`kvcli.cli.lazy`.
``--help`` lists the commands in the registry's order. The options they share are :mod:`kvcli.cli.entry_options`.

Every operation goes through the API port (:mod:`kvcli.api.port`), so it behaves the same on the embedded backend and
on Fastly. Values are bytes end to end; keys are printed verbatim.
"""

from __future__ import annotations

from kvcli.cli.lazy import lazy_app

#: command name -> (module, function), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("kvcli.cli.entry_create", "create"),  # one key, or a bulk import (kvcli.cli.entry_bulk)
    "get": ("kvcli.cli.entry_get", "get"),
    "describe": ("kvcli.cli.entry_describe", "describe"),
    "list": ("kvcli.cli.entry_list", "list_"),
    "delete": ("kvcli.cli.entry_delete", "delete"),
    "export": ("kvcli.cli.entry_export", "export_cmd"),
    "sync": ("kvcli.cli.entry_sync", "sync_cmd"),
}
#: alias -> command name (never listed in --help; the command's help names it)
ALIASES = {"insert": "create"}

app = lazy_app(
    "kv-store-entry",
    COMMANDS,
    help="Create, read, list and delete KV store entries.",
    aliases=ALIASES,
    sort=False,
)
