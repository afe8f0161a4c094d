"""`kvcli kv-store …`: the group, a registry of its commands, each in a module of its own (imported only when that
command runs or shows its help: :mod:`kvcli.cli.lazy`)."""

from __future__ import annotations

from kvcli.cli.lazy import lazy_app

#: command name -> (module, function); --help lists them sorted
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("kvcli.cli.store_create", "create"),
    "list": ("kvcli.cli.store_list", "list_"),
    "describe": ("kvcli.cli.store_describe", "describe"),
    "delete": ("kvcli.cli.store_delete", "delete"),
    "copy": ("kvcli.cli.store_copy", "copy_cmd"),
    "diff": ("kvcli.cli.store_diff", "diff_cmd"),
}
#: alias -> command name (never listed in --help; the command's help names it)
ALIASES = {"get": "describe"}

app = lazy_app(
    "kv-store",
    COMMANDS,
    help="Create, list, describe, delete, copy and compare KV stores.",
    aliases=ALIASES,
)
