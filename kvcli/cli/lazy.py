"""Command groups that import a command's module only when that command runs, and kvcli's one alias mechanism.

Every group of the CLI is a :class:`LazyGroup` made by :func:`lazy_group` from a registry:

* ``commands``: name → ``(module, attribute)``, where the attribute is a Typer app (a group of its own) or a command
  function; the module is imported only when that command is resolved (to run it, or for its own ``--help``), so a
  group's ``--help`` lists its commands without importing them (it shows their first help line, read from the
  registry's ``help`` when given, else from the command once loaded — see :func:`lazy_group`);
* ``aliases``: alias → command name. An alias resolves to the very command its name points to (defined once), and
  is never listed in ``--help`` (the command's help text names it: "(alias: get)").

Commands a group's own module defines with ``@app.command`` keep working next to the registry (``kv-store``'s
create/list/describe/delete, ``resource-link``'s, ``service``'s), aliases apply to them too.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import click
import typer
from typer.core import TyperGroup

#: options typer gives every app it builds; only the root command should have them
_ROOT_ONLY = ("install_completion", "show_completion")


class LazyGroup(TyperGroup):
    """A Typer group with a registry of lazily imported commands and of aliases (see the module's docstring)."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {}
    aliases: ClassVar[dict[str, str]] = {}
    #: --help lists the commands sorted by name (click's default), else in registry order after the module's own
    sort: ClassVar[bool] = True

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(super().list_commands(ctx))
        names += [name for name in self.lazy if name not in names]
        return sorted(names) if self.sort else names

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # typer suggests only from the commands it has loaded; the lazy ones count too (aliases do not)
            if args and "Did you mean" not in exc.message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    names = ", ".join(repr(m) for m in matches)
                    # the text click prints (setattr: newer click declares it Final for type checkers)
                    setattr(exc, "message", f"{exc.message.rstrip('.')}. Did you mean {names}?")  # noqa: B010
            raise

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in self.lazy:
            return cmd
        # built once per run: hoist_globals resolves the subcommand before click does, and both get the same one
        built: dict[str, click.Command] = self.__dict__.setdefault("_built", {})
        if name not in built:
            built[name] = _build(name, *self.lazy[name])
        return built[name]


def _build(name: str, module: str, attr: str) -> click.Command:
    obj: Any = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, typer.Typer):  # a command function: a one-command app builds it as a click command
        app = typer.Typer()
        app.command(name)(obj)
        obj = app
    command = typer.main.get_command(obj)
    command.params = [p for p in command.params if p.name not in _ROOT_ONLY]
    command.name = name
    return command


def lazy_group(
    commands: dict[str, tuple[str, str]] | None = None, *, aliases: dict[str, str] | None = None, sort: bool = True
) -> type[LazyGroup]:
    """A :class:`LazyGroup` class (for ``typer.Typer(cls=...)``) with this registry and these aliases."""
    attrs = {"lazy": dict(commands or {}), "aliases": dict(aliases or {}), "sort": sort}
    return type("LazyGroup", (LazyGroup,), attrs)


def lazy_app(
    name: str,
    commands: dict[str, tuple[str, str]],
    *,
    help: str,  # noqa: A002 - typer's name
    aliases: dict[str, str] | None = None,
    sort: bool = True,
) -> typer.Typer:
    """The Typer app of a group whose every command is in its registry (``commands``, ``aliases``: :func:`lazy_group`);
    ``--help`` of the group lists them, and the group without a command shows its help."""
    app = typer.Typer(name=name, cls=lazy_group(commands, aliases=aliases, sort=sort), help=help, no_args_is_help=True)

    @app.callback()
    def group() -> None:
        # typer builds a group only from an app that has a callback or commands; every command is in the registry
        pass

    return app
