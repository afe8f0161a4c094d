"""Generate docs/reference.md from kvcli's own CLI: every command, every flag with its help, an example each.

The text comes from the click command tree Typer builds (the same help ``kvcli … --help`` prints); each command's
example is its docstring's ``Example:`` line(s). Hidden commands (compatibility aliases) are left out of the page.

Every example is executed by tests/docs/test_examples.py on a fresh embedded backend: the HTML comments around it
(invisible on the rendered page) say what it needs first (``setup``), which placeholders stand for which IDs
(``let``), and that it must not leak state into the next example (``isolated``). What each command's example needs is
in EXAMPLE_SETUP below; a new command whose example needs something must be added there.

Usage: python scripts/gen_docs.py          # rewrite docs/reference.md
       python scripts/gen_docs.py --check  # exit 1 if docs/reference.md differs from what the CLI generates
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference.md"
EXAMPLE_RE = re.compile(r"^\s*Example:\s*(.+?)\s*$")
SKIPPED_PARAMS = {"help"}

# ------------------------------------------------------------------------------------------ what examples need
STORE = [
    "kvcli kv-store create --name my-store",
    "kvcli kv-store-entry create --store-name my-store -k greeting --value 'hello world'",
    "kvcli kv-store-entry create --store-name my-store -k user/1 --value one",
    "kvcli kv-store-entry create --store-name my-store -k tmp/cache --value x",
]
SERVICE = ["kvcli service create --name my-app"]
# my-app: version 1 active (with a link to my-store), versions 2 to 4 editable clones of it (same link ID)
LINKED = [
    *STORE,
    *SERVICE,
    "kvcli resource-link create --service-name my-app --version latest --store-name my-store -n my_store",
    "kvcli service version activate --service-name my-app --version 1",
    "kvcli service version clone --service-name my-app --version active",
    "kvcli service version clone --service-name my-app --version latest",
    "kvcli service version clone --service-name my-app --version latest",
]
PROFILES = [
    "kvcli profile create dev --local --default",
    "kvcli profile create work --token example-token",
    "kvcli profile create old --local",
]
LETS = {"STORE_ID": "store:my-store", "SVC": "service:my-app", "LINK_ID": "link:my-app"}


@dataclass
class Needs:
    setup: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    no_test: str | None = None  # why the example cannot run in a test


EXAMPLE_SETUP: dict[str, Needs] = {
    "kv-store describe": Needs(STORE),
    "kv-store get": Needs(STORE),
    "kv-store delete": Needs(STORE),
    "kv-store copy": Needs(["kvcli kv-store create --name photos",
                            "kvcli profile create prod --local --data-dir prod-data"]),
    "kv-store diff": Needs(["kvcli kv-store create --name photos",
                            "kvcli profile create prod --local --data-dir prod-data",
                            "kvcli --local kv-store copy --from photos --to-profile prod --to photos --create"]),
    "kv-store-entry create": Needs(STORE[:1]),
    "kv-store-entry get": Needs(STORE),
    "kv-store-entry describe": Needs(STORE),
    "kv-store-entry list": Needs(STORE),
    "kv-store-entry delete": Needs(STORE),
    "kv-store-entry export": Needs(["kvcli kv-store create --name prod"]),
    "kv-store-entry sync": Needs(
        ["kvcli kv-store create --name site", "mkdir -p public && echo hi >public/index.html"]
    ),
    "local serve": Needs(no_test="runs until stopped"),
    "ui": Needs(no_test="runs until stopped"),
    "profile create": Needs(env={"FASTLY_API_TOKEN": "example-token"}),
    "profile switch": Needs(PROFILES),
    "profile update": Needs(PROFILES, env={"NEW_TOKEN": "example-new-token"}),
    "profile token": Needs(PROFILES),
    "profile delete": Needs(PROFILES),
    "profile import": Needs([  # the official Fastly CLI's config, where it keeps it ($HOME is the sandbox)
        "mkdir -p .config/fastly",
        "printf '[auth]\\ndefault = \"work\"\\n[auth.tokens.work]\\ntoken = \"example-token\"\\ntype = \"static\"\\n'"
        " > .config/fastly/config.toml",
    ]),
    "service describe": Needs(SERVICE),
    "service get": Needs(SERVICE),
    "service update": Needs(SERVICE),
    "service delete": Needs(LINKED),
    "service version": Needs(LINKED),
    "resource-link create": Needs(STORE + SERVICE),
    "resource-link": Needs(LINKED),
    "service resource-link": Needs(LINKED),
}


def needs_for(path: str) -> Needs:
    """The entry for a command path (``service version list``), else its group's (``service version``)."""
    parts = path.split()
    while parts:
        found = EXAMPLE_SETUP.get(" ".join(parts))
        if found is not None:
            return found
        parts.pop()
    return Needs()


# ------------------------------------------------------------------------------------------------- the tree
@dataclass
class Entry:
    path: str  # "kv-store-entry get" ("" for the root)
    command: click.Command
    ctx: click.Context


def walk(cmd: click.Command, ctx: click.Context, path: str = "", include_hidden: bool = False) -> list[Entry]:
    out = [Entry(path, cmd, ctx)]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or (sub.hidden and not include_hidden):
                continue
            sub_ctx = click.Context(sub, parent=ctx, info_name=name)
            out.extend(walk(sub, sub_ctx, f"{path} {name}".strip(), include_hidden))
    return out


def command_tree(include_hidden: bool = False) -> list[Entry]:
    from kvcli.cli.main import get_root_command

    root = get_root_command()
    return walk(root, click.Context(root, info_name="kvcli"), include_hidden=include_hidden)


def split_help(text: str | None) -> tuple[str, list[str]]:
    """(description without the Example lines, the examples)."""
    description, examples = [], []
    for line in (text or "").strip().splitlines():
        m = EXAMPLE_RE.match(line)
        if m:
            examples.append(m.group(1))
        else:
            description.append(line.rstrip())
    return "\n".join(description).strip(), examples


# ---------------------------------------------------------------------------------------------- rendering
def _md(text: str) -> str:
    """Help text as Markdown: kept as written, only table-breaking pipes escaped."""
    return text.replace("|", "\\|")


def _param_row(param: click.Parameter, ctx: click.Context) -> tuple[str, str]:
    if isinstance(param, click.Argument):
        name = f"`{param.make_metavar(ctx)}`"
    else:
        names = sorted(param.opts, key=lambda o: o.startswith("--")) + list(param.secondary_opts)
        name = ", ".join(f"`{n}`" for n in names)
        if not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            name += f" `{param.make_metavar(ctx)}`"
    text = (getattr(param, "help", None) or "").strip()
    extras = []
    if param.required:
        extras.append("required")
    default = param.default
    show = getattr(param, "show_default", None)
    if show is not False and default not in (None, False, ()) and not getattr(param, "is_flag", False):
        extras.append(f"default: `{default}`")
    envvar = getattr(param, "envvar", None)
    if envvar:
        extras.append("env: " + ", ".join(f"`{e}`" for e in ([envvar] if isinstance(envvar, str) else envvar)))
    if extras:
        text = f"{text} ({'; '.join(extras)})" if text else "; ".join(extras).capitalize()
    return name, _md(" ".join(text.split()))


def _params_table(cmd: click.Command, ctx: click.Context) -> list[str]:
    rows = [_param_row(p, ctx) for p in cmd.params if p.name not in SKIPPED_PARAMS and not getattr(p, "hidden", False)]
    if not rows:
        return []
    out = ["| Flag or argument | Description |", "|---|---|"]
    out += [f"| {name} | {text} |" for name, text in rows]
    return out + [""]


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def _example(path: str, example: str) -> list[str]:
    needs = needs_for(path)
    out = []
    if needs.no_test:
        out.append(f"<!-- no-test: {needs.no_test} -->")
    else:
        out.append("<!-- isolated -->")
        if not example.startswith("kvcli "):
            out.append("<!-- test -->")
        if needs.setup:
            out.append("<!-- setup:\n" + "\n".join(needs.setup) + "\n-->")
        for name, value in needs.env.items():
            out.append(f"<!-- env: {name}={value} -->")
    return out + ["```sh", example, "```", ""]


def _visible(group: click.Group, ctx: click.Context) -> list[str]:
    return [n for n in group.list_commands(ctx) if not group.get_command(ctx, n).hidden]


def _signature(entries: list[Entry], prefix: str) -> list[tuple]:
    """What a group offers (subcommand names, their help and flags), independent of where it is mounted."""
    return [
        (
            e.path[len(prefix) :],
            e.command.help,
            [(p.name, tuple(p.opts), getattr(p, "help", None)) for p in e.command.params],
        )
        for e in entries
        if e.path.startswith(prefix + " ")
    ]


def repeated_groups(tree: list[Entry]) -> dict[str, str]:
    """Groups mounted twice (``service resource-link`` = ``resource-link``): the deeper path -> the shallower one."""
    groups = sorted((e for e in tree[1:] if isinstance(e.command, click.Group)), key=lambda e: e.path.count(" "))
    found: dict[str, str] = {}
    for i, deep in enumerate(groups):
        for shallow in groups[:i]:
            if shallow.path.count(" ") < deep.path.count(" ") and _signature(tree, shallow.path) == _signature(
                tree, deep.path
            ):
                found[deep.path] = shallow.path
                break
    return found


def render() -> str:
    tree = command_tree()
    root = tree[0]
    same = repeated_groups(tree)
    lines = [
        "# Command reference",
        "",
        "<!-- Generated by scripts/gen_docs.py from kvcli's own help text; do not edit by hand. -->",
        "",
        "Every command and flag of kvcli, generated from the CLI itself (`python scripts/gen_docs.py`); "
        "`kvcli COMMAND --help` prints the same text. Each example runs as shown against the embedded backend "
        "(tests/docs/test_examples.py); `STORE_ID`, `SVC` and `LINK_ID` stand for the IDs of a store, a service and a "
        "resource link. The guides are listed in [the documentation index](README.md).",
        "",
        "<!-- let: " + " ".join(f"{k}={v}" for k, v in LETS.items()) + " -->",
        "",
        "## Contents",
        "",
    ]
    for entry in tree[1:]:
        if any(entry.path.startswith(f"{copy} ") for copy in same):
            continue
        depth = entry.path.count(" ")
        title = f"kvcli {entry.path}"
        lines.append(f"{'  ' * depth}- [`{title}`](#{_anchor(title)})")
    lines.append("")

    from kvcli.cli.main import root as root_callback

    description, _ = split_help(root.command.help)
    lines += ["## Global flags", "", _md(description), "", _md(split_help(root_callback.__doc__)[0]), ""]
    lines += _params_table(root.command, root.ctx)

    for entry in tree[1:]:
        if any(entry.path.startswith(f"{copy} ") for copy in same):
            continue  # documented once, under the group it repeats
        cmd, title = entry.command, f"kvcli {entry.path}"
        description, examples = split_help(cmd.help)
        level = "##" if entry.path.count(" ") == 0 else "###"
        lines += [f"{level} {title}", "", _md(description), ""]
        usage = " ".join(cmd.collect_usage_pieces(entry.ctx))
        lines += [f"Usage: `{title} {usage}`".rstrip("` ") + "`", ""]
        if entry.path in same:
            other = f"kvcli {same[entry.path]}"
            lines += [
                f"The same subcommands, flags and examples as [`{other}`](#{_anchor(other)}): "
                + ", ".join(f"`{title} {n}`" for n in _visible(cmd, entry.ctx))
                + ".",
                "",
            ]
            continue
        if isinstance(cmd, click.Group):
            names = _visible(cmd, entry.ctx)
            lines += ["Commands: " + ", ".join(f"[`{n}`](#{_anchor(f'{title} {n}')})" for n in names), ""]
        lines += _params_table(cmd, entry.ctx)
        for example in examples:
            lines += ["Example:", ""] if len(examples) == 1 else []
            lines += _example(entry.path, example)
    return "\n".join(lines).rstrip() + "\n"


def problems() -> list[str]:
    """Commands without help text, leaf commands without an example, params without help."""
    found = []
    for entry in command_tree(include_hidden=True)[1:]:
        title = f"kvcli {entry.path}"
        description, examples = split_help(entry.command.help)
        if not description:
            found.append(f"{title}: no help text")
        if not isinstance(entry.command, click.Group) and not examples:
            found.append(f"{title}: no 'Example:' line in its docstring")
        for p in entry.command.params:
            if p.name not in SKIPPED_PARAMS and not getattr(p, "hidden", False) and not getattr(p, "help", None):
                found.append(f"{title}: {p.name} has no help text")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    issues = problems()
    for issue in issues:
        print(f"missing: {issue}", file=sys.stderr)
    text = render()
    current = OUT.read_text(encoding="utf-8") if OUT.exists() else None
    if args.check:
        if current != text:
            print("docs/reference.md is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 1 if issues else 0
    if current != text:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
