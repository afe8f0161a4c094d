"""Lazy command groups and the one alias mechanism (issue 13: "one command per module, lazy at every level", "one
alias mechanism").

A group's ``--help`` lists its commands without importing what they need to run; running a command imports its own
module, not its siblings'; an alias is a name for the one command it points to, never a second definition.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from kvcli.cli.main import get_root_command

_PROBE = (
    "import json, sys\n"
    "from kvcli.cli.main import run\n"
    "code = run(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
    "sys.exit(code)\n"
)


def _modules_after(*argv: str) -> tuple[set[str], str]:
    """The modules loaded in a fresh process that ran ``kvcli ARGV`` (the full CLI), and its stdout."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.rsplit("MODULES ", 1)[1]
    return set(json.loads(line)), proc.stdout


def _under(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


ENTRY_COMMAND_MODULES = [f"kvcli.cli.entry_{name}" for name in
                         ("create", "get", "describe", "list", "delete", "export", "sync", "bulk")]  # fmt: skip


def test_group_help_does_not_import_what_its_commands_need() -> None:
    modules, out = _modules_after("kv-store-entry", "--help")
    for name in ("create", "get", "describe", "list", "delete", "export", "sync"):
        assert name in out  # every command is listed
    assert not _under(modules, "kvcli.cli.entry_bulk", "kvcli.bulk", "kvcli.ops", "kvcli.cli.many_keys")


def test_a_command_imports_its_own_module_and_not_its_siblings() -> None:
    modules, out = _modules_after("kv-store-entry", "get", "--help")
    assert "--keys-file" in out
    assert "kvcli.cli.entry_get" in modules
    assert _under(modules, *ENTRY_COMMAND_MODULES) == ["kvcli.cli.entry_get"]
    assert not _under(modules, "kvcli.bulk", "kvcli.ops")


def test_root_help_does_not_import_the_bulk_machinery() -> None:
    modules, _ = _modules_after("--help")
    assert not _under(modules, *ENTRY_COMMAND_MODULES, "kvcli.bulk", "kvcli.ops")


def _groups() -> list[tuple[str, click.Group, click.Context]]:
    root = get_root_command()
    found: list[tuple[str, click.Group, click.Context]] = []

    def walk(group: click.Group, ctx: click.Context, path: str) -> None:
        found.append((path, group, ctx))
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if isinstance(sub, click.Group):
                walk(sub, click.Context(sub, parent=ctx, info_name=name), f"{path} {name}")

    walk(root, click.Context(root, info_name="kvcli"), "kvcli")
    return found


def test_no_command_is_defined_twice() -> None:
    # an alias lives in its group's registry (kvcli.cli.lazy), not as a hidden copy of the command
    for path, group, ctx in _groups():
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None and not cmd.hidden, f"'{path} {name}': a hidden command (an alias defined twice?)"
            assert "Alias of" not in (cmd.help or ""), f"'{path} {name}' is a copy of another command"


ALIASES = [
    (["object-store"], "kv-store"),
    (["kv-store", "get"], "describe"),
    (["kv-store-entry", "insert"], "create"),
    (["resource-link", "link"], "create"),
    (["resource-link", "get"], "describe"),
    (["resource-link", "remove"], "delete"),
    (["service", "get"], "describe"),
    (["service", "resource-link", "remove"], "delete"),
]


@pytest.mark.parametrize(("path", "target"), ALIASES, ids=[" ".join(p) for p, _ in ALIASES])
def test_an_alias_is_the_command_it_names_and_is_not_listed(path: list[str], target: str) -> None:
    from kvcli.cli.lazy import LazyGroup

    root = get_root_command()
    ctx = click.Context(root, info_name="kvcli")
    group: click.Command = root
    for word in path[:-1]:
        assert isinstance(group, click.Group)
        group = group.get_command(ctx, word)
        ctx = click.Context(group, parent=ctx, info_name=word)
    assert isinstance(group, LazyGroup)
    alias = path[-1]
    assert group.aliases[alias] == target
    assert alias not in group.list_commands(ctx)
    assert target in group.list_commands(ctx)
    assert group.get_command(ctx, alias) is group.get_command(ctx, target)


def test_every_command_of_every_group_comes_from_its_registry_one_module_each() -> None:
    from kvcli.cli.lazy import LazyGroup

    # the official command families; kvcli's own small groups (profile, local) keep their commands in one module
    families = ("kvcli kv-store", "kvcli object-store", "kvcli kv-store-entry", "kvcli service", "kvcli resource-link")
    checked = 0
    for path, group, ctx in _groups():
        if not path.startswith(families):
            continue
        checked += 1
        assert isinstance(group, LazyGroup), path
        names = group.list_commands(ctx)
        assert sorted(names) == sorted(group.lazy), f"'{path}' defines commands outside its registry"
        modules = [module for module, _ in group.lazy.values()]
        assert len(set(modules)) == len(modules), f"'{path}': two commands share a module"
    assert checked >= 5


@pytest.mark.parametrize(
    ("argv", "own", "siblings"),
    [
        (["service", "version", "clone", "--help"], "kvcli.cli.version_clone", "kvcli.cli.version_"),
        (["service", "list", "--help"], "kvcli.cli.service_list", "kvcli.cli.service_"),
        (["resource-link", "update", "--help"], "kvcli.cli.link_update", "kvcli.cli.link_"),
    ],
)
def test_a_service_or_link_command_imports_its_own_module_and_not_its_siblings(argv, own, siblings) -> None:
    modules, out = _modules_after(*argv)
    assert "Example:" in out
    loaded = sorted(m for m in modules if m.startswith(siblings))
    shared = {"kvcli.cli.service_options", "kvcli.cli.service_common", "kvcli.cli.service_version",
              "kvcli.cli.link_options"}  # fmt: skip
    assert [m for m in loaded if m not in shared] == [own]
