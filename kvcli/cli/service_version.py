"""`kvcli service version …`: the group and a registry of its commands, each in a module of its own (imported only
when that command runs or shows its help: :mod:`kvcli.cli.lazy`). ``--help`` lists them in the registry's order."""

from __future__ import annotations

from kvcli.cli.lazy import lazy_app

#: command name -> (module, function), in the order --help lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("kvcli.cli.version_list", "version_list"),
    "update": ("kvcli.cli.version_update", "version_update"),
    "clone": ("kvcli.cli.version_clone", "version_clone"),
    "activate": ("kvcli.cli.version_activate", "version_activate"),
    "deactivate": ("kvcli.cli.version_deactivate", "version_deactivate"),
    "lock": ("kvcli.cli.version_lock", "version_lock"),
}

app = lazy_app(
    "version",
    COMMANDS,
    help="List, update, clone, activate, deactivate and lock service versions.",
    sort=False,
)
