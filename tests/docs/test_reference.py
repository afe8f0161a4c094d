"""docs/reference.md is what the CLI generates now, every command has help and an example, and doc links resolve."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]


def gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_reference_is_up_to_date():
    gen = gen_docs()
    assert (ROOT / "docs" / "reference.md").read_text(encoding="utf-8") == gen.render(), (
        "docs/reference.md is out of date: run python scripts/gen_docs.py"
    )


def test_every_command_has_help_and_an_example():
    assert gen_docs().problems() == []


def test_every_command_and_flag_is_in_the_reference():
    gen = gen_docs()
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    repeated = gen.repeated_groups(gen.command_tree())
    for entry in gen.command_tree()[1:]:
        title = f"kvcli {entry.path}"
        if any(entry.path.startswith(f"{group} ") for group in repeated):
            assert f"`{title}`" in text, title
            continue
        assert f"# {title}\n" in text, title
        for param in entry.command.params:
            if param.name != "help" and isinstance(param, click.Option):
                assert f"`{param.opts[0]}`" in text, (title, param.opts)


def test_the_checks_notice_a_command_without_an_example(monkeypatch):
    gen = gen_docs()

    @click.command(help="Does something.")
    @click.option("--flag", help="")
    def bare(flag):  # pragma: no cover - never invoked
        pass

    group = click.Group("kvcli", commands={"bare": bare}, help="Root.")
    ctx = click.Context(group, info_name="kvcli")
    monkeypatch.setattr(gen, "command_tree", lambda include_hidden=False: gen.walk(group, ctx))
    assert gen.problems() == ["kvcli bare: no 'Example:' line in its docstring", "kvcli bare: flag has no help text"]


def test_split_help_takes_the_example_lines_out():
    description, examples = gen_docs().split_help("Do it.\n\nMore words.\n\nExample: kvcli do --it\n")
    assert (description, examples) == ("Do it.\n\nMore words.", ["kvcli do --it"])


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_relative_links_resolve(doc):
    for target, anchor in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path = (doc.parent / target).resolve()
        assert path.exists(), f"{doc.name}: broken link {target}"
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor[1:] in slugs, f"{doc.name}: no heading for {target}{anchor}"
