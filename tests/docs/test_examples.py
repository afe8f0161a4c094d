"""Every shell example in the docs runs, as written, against the embedded backend in an isolated data directory.

Which blocks run: fenced ``sh`` (or ``bash``/``shell``/``console``) blocks whose first command starts with ``kvcli``
(or ``$ kvcli``), in README.md and docs/*.md. Each file runs top to bottom in its own sandbox (fresh config and data
directories, an empty working directory), so a guide's blocks build on each other like a reader's terminal session.

Conventions, as HTML comments (invisible on the rendered page) just before a block:

``<!-- no-test: why -->``   skip the block (it needs real Fastly, the network, or runs forever).
``<!-- test -->``           run the block even though it does not start with ``kvcli`` (e.g. ``echo … | kvcli …``).
``<!-- setup: … -->``       commands (one per line, same rules as examples) run first; they must succeed.
``<!-- isolated -->``       the block (and its setup) leaves no trace: the sandbox is restored afterwards.
``<!-- env: NAME=value -->``  an environment variable for this block only.
``<!-- exit: N -->``        the block's last command must exit with N (every other command must exit 0).
``<!-- needs: jq … -->``     skip the block when one of these programs is not installed.
``<!-- check-output -->``   stdout must match: in ``$ kvcli …`` blocks the lines after each command, otherwise a
                            trailing ``# prints: TEXT`` comment on the command line.
``<!-- let: NAME=kind:arg … -->``  from here on, the word NAME (or ``<NAME>``) in commands stands for an ID looked up
                            when the command runs: ``store:NAME`` (a store's ID), ``service:NAME`` (a service's
                            ID), ``link:SERVICE`` (the first resource link of the service's latest version).

A block of plain ``kvcli …`` calls runs them one by one in-process, through the console entry point (fast path, then
the full CLI). A block with any shell syntax (pipes, redirections, ``$``, globs, heredocs, ``if``/``case``) runs as one
bash script (``-e -o pipefail``) with ``kvcli`` on PATH; in ``$ …`` blocks each command runs on its own, in-process or
in bash.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^([a-z-]+)(?::\s*(.*))?$", re.S)
KNOWN = {"no-test", "test", "setup", "isolated", "env", "exit", "check-output", "let", "needs"}
SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]~{}]")


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    directives: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> list[str]:
        return [v for k, v in self.directives if k == name]

    @property
    def where(self) -> str:
        name = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc.name
        return f"{name}:{self.line}"


def parse(doc: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a Markdown file with the directives before each; and malformed directives."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    errors: list[str] = []
    pending: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!--"):
            start = i
            body = line.lstrip()[4:]
            while "-->" not in body and i + 1 < len(lines):
                i += 1
                body += "\n" + lines[i]
            body = body.split("-->", 1)[0].strip()
            m = DIRECTIVE.match(body)
            if m and m.group(1) in KNOWN:
                pending.append((m.group(1), (m.group(2) or "").strip()))
            elif m:  # looks like a directive but is none: a typo would silently stop testing the block
                errors.append(f"{doc.name}:{start + 1}: unknown directive {m.group(1)!r} (known: {sorted(KNOWN)})")
            i += 1
            continue
        m = FENCE.match(line)
        if m:
            fence, lang, start = m.group(1), m.group(2).lower(), i
            body_lines = []
            i += 1
            while i < len(lines) and not lines[i].startswith(fence[:3]):
                body_lines.append(lines[i])
                i += 1
            blocks.append(Block(doc, start + 1, lang, "\n".join(body_lines), pending))
            pending = []  # directives belong to the next fenced block, prose in between or not
        i += 1
    return blocks, errors


# ------------------------------------------------------------------------------------------------- commands
@dataclass
class Command:
    text: str
    expected: list[str] | None = None  # stdout lines, for check-output


def commands_of(block: Block) -> list[Command] | None:
    """The commands of a block (None: run the whole block as one bash script)."""
    if "<<" in block.text:
        return None
    raw = block.text.splitlines()
    if any(line.startswith("$ ") for line in raw):
        out: list[Command] = []
        for line in raw:
            if line.startswith("$ "):
                out.append(Command(line[2:], []))
            elif out and out[-1].text.endswith("\\"):
                out[-1].text = out[-1].text[:-1] + " " + line.strip()
            elif out:
                assert out[-1].expected is not None
                out[-1].expected.append(line)
        for c in out:
            while c.expected and not c.expected[-1].strip():
                c.expected.pop()
        return out
    joined: list[str] = []
    for line in raw:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        elif line.strip() and not line.lstrip().startswith("#"):
            joined.append(line.strip())
    cmds = []
    for text in joined:
        m = re.search(r"#\s*prints:\s?(.*)$", text)
        cmds.append(Command(text, [m.group(1)] if m else None))
    return cmds


def first_command(block: Block) -> str:
    cmds = commands_of(block)
    if cmds is None:
        return block.text.lstrip()
    return cmds[0].text if cmds else ""


def runs(block: Block) -> bool:
    if block.lang not in SHELL_LANGS or block.get("no-test"):
        return False
    return bool(block.get("test")) or first_command(block).startswith("kvcli")


# --------------------------------------------------------------------------------------------------- sandbox
@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


class Sandbox:
    def __init__(self, root: Path, isolated: dict[str, Path]) -> None:
        self.root = root  # the working directory of every command
        self.dirs = [isolated["config"], isolated["data"], root]
        self.work = root
        bindir = root.parent / "bin"
        bindir.mkdir(exist_ok=True)
        shim = bindir / "kvcli"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kvcli "$@"\n')
        shim.chmod(0o755)
        self.path = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
        self.lets: dict[str, str] = {}
        self.env: dict[str, str] = {}

    # placeholders ------------------------------------------------------------------------------------------
    def resolve(self, kind: str, arg: str) -> str:
        from kvcli.config import data_dir
        from kvcli.local.engine import Engine

        engine = Engine.in_dir(data_dir())
        try:
            if kind == "store":
                return engine.find_store(arg).id
            service = engine.find_service(arg)
            if kind == "service":
                return service.id
            if kind == "link":
                return engine.list_links(service.id, service.latest_version)[0].id
        finally:
            engine.close()
        raise AssertionError(f"unknown let kind {kind!r}")

    def substitute(self, text: str) -> str:
        for name, spec in self.lets.items():
            if re.search(rf"<{name}>|\b{name}\b", text):
                value = self.resolve(*spec.split(":", 1))
                text = re.sub(rf"<{name}>|\b{name}\b", value, text)
        return text

    # running -----------------------------------------------------------------------------------------------
    def run(self, text: str) -> Outcome:
        text = self.substitute(text)
        argv = self._plain(text)
        if argv is not None:
            return self._in_process(argv)
        return self._bash(text)

    @staticmethod
    def _plain(text: str) -> list[str] | None:
        """argv if the line is a plain `kvcli …` call with no shell syntax outside quotes."""
        try:
            lex = shlex.shlex(text, posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            lex.commenters = "#"
            tokens = list(lex)
        except ValueError:
            return None
        if not tokens or tokens[0] != "kvcli":
            return None
        unquoted = re.sub(r"'[^']*'", "", text)
        unquoted = re.sub(r'"[^"$`\\]*"', "", unquoted).split("#", 1)[0]
        if SHELL_SYNTAX.search(unquoted) or any(t and set(t) <= set("|&;<>()") for t in tokens):
            return None
        return tokens[1:]

    def _in_process(self, argv: list[str]) -> Outcome:
        from kvcli.cli.main import run
        from kvcli.entry import run_fast

        runner = CliRunner()
        with runner.isolation(env=self.env or None) as (out, err, _):
            code = run_fast(argv)
            if code is None:
                try:
                    code = run(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
            return Outcome(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))

    def _bash(self, script: str) -> Outcome:
        bash = shutil.which("bash")
        if bash is None:
            pytest.skip("bash is not installed")
        env = subprocess_env({"PATH": self.path, "HOME": str(self.root), **self.env})
        argv = [bash, "--norc", "--noprofile", "-e", "-o", "pipefail", "-c", script]
        proc = subprocess.run(argv, cwd=self.work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    # isolation ---------------------------------------------------------------------------------------------
    def snapshot(self) -> Path:
        snap = self.root.parent / "snapshot"
        shutil.rmtree(snap, ignore_errors=True)
        for i, d in enumerate(self.dirs):
            if d.exists():
                shutil.copytree(d, snap / str(i))
        return snap

    def restore(self, snap: Path) -> None:
        for i, d in enumerate(self.dirs):
            if d.exists():  # empty it in place: the working directory must stay the same directory
                for child in d.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            if (snap / str(i)).exists():
                shutil.copytree(snap / str(i), d, dirs_exist_ok=True)
        shutil.rmtree(snap)


def describe_failure(block: Block, command: str, outcome: Outcome, wanted: str) -> str:
    return (
        f"{block.where}: `{command}` {wanted}; got exit {outcome.code}\n"
        f"--- stdout\n{outcome.stdout[-2000:]}\n--- stderr\n{outcome.stderr[-2000:]}"
    )


def run_block(sandbox: Sandbox, block: Block) -> None:
    for setup in block.get("setup"):
        for line in setup.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                outcome = sandbox.run(line.strip())
                assert outcome.code == 0, describe_failure(block, line.strip(), outcome, "(setup) should succeed")
    cmds = commands_of(block)
    exits = block.get("exit")
    expected_last = int(exits[-1]) if exits else 0
    check = bool(block.get("check-output"))
    console = any(line.startswith("$ ") for line in block.text.splitlines())
    if cmds is not None and not console and any(Sandbox._plain(c.text) is None for c in cmds):
        assert not check, f"{block.where}: check-output needs plain kvcli lines or a $-prompt block"
        cmds = None  # shell syntax in a plain block: the whole block is one bash script (variables, if/case, …)
    if cmds is None:
        outcome = sandbox.run(block.text)
        assert outcome.code == expected_last, describe_failure(
            block, "<script>", outcome, f"should exit {expected_last}"
        )
        return
    for n, cmd in enumerate(cmds):
        want = expected_last if n == len(cmds) - 1 else 0
        outcome = sandbox.run(cmd.text)
        assert outcome.code == want, describe_failure(block, cmd.text, outcome, f"should exit {want}")
        if check and cmd.expected is not None:
            got = outcome.stdout.rstrip("\n").splitlines()
            assert [g.rstrip() for g in got] == [e.rstrip() for e in cmd.expected], describe_failure(
                block, cmd.text, outcome, "should print:\n" + "\n".join(cmd.expected)
            )


def run_doc(doc: Path, root: Path, isolated: dict[str, Path]) -> int:
    """Run every runnable block of ``doc``; the number run."""
    blocks, errors = parse(doc)
    assert not errors, errors
    sandbox = Sandbox(root, isolated)
    count = 0
    cwd = os.getcwd()
    os.chdir(root)  # in-process commands see the same working directory as bash ones
    try:
        count = _run_blocks(sandbox, blocks)
    finally:
        os.chdir(cwd)
    return count


def _run_blocks(sandbox: Sandbox, blocks: list[Block]) -> int:
    count = 0
    for block in blocks:
        for spec in block.get("let"):
            for pair in spec.split():
                name, _, value = pair.partition("=")
                sandbox.lets[name] = value
        if not runs(block):
            continue
        missing = [tool for spec in block.get("needs") for tool in spec.split() if shutil.which(tool) is None]
        if missing:
            continue  # an optional tool (e.g. jq) this machine lacks
        sandbox.env = dict(pair.split("=", 1) for pair in block.get("env"))
        snap = sandbox.snapshot() if block.get("isolated") else None
        try:
            run_block(sandbox, block)
        finally:
            sandbox.env = {}
            if snap is not None:
                sandbox.restore(snap)
        count += 1
    return count


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(doc, tmp_path, isolated, monkeypatch):
    root = sandbox_root(tmp_path)
    monkeypatch.setenv("HOME", str(root))
    run_doc(doc, root, isolated)


# ------------------------------------------------------------------------------------------- the runner itself
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


def sandbox_root(tmp_path: Path) -> Path:
    root = tmp_path / "sandbox"
    root.mkdir()
    return root


def test_a_wrong_example_fails(tmp_path, isolated, monkeypatch):
    doc = write(
        tmp_path, "```sh\nkvcli kv-store create --name demo\nkvcli kv-store-entry get --store-name demo -k nope\n```\n"
    )
    with pytest.raises(AssertionError, match="should exit 0; got exit 3"):
        run_doc(doc, sandbox_root(tmp_path), isolated)


def test_directives(tmp_path, isolated, monkeypatch):
    doc = write(
        tmp_path,
        """\
<!-- let: SID=store:demo -->
<!-- setup:
kvcli kv-store create --name demo
kvcli kv-store-entry create --store-name demo -k greeting --value 'hello world'
-->
<!-- check-output -->
```sh
kvcli kv-store-entry get -s SID -k greeting  # prints: hello world
```

<!-- isolated -->
```sh
kvcli -y kv-store delete --store-name demo --all
```

<!-- exit: 3 -->
```sh
kvcli kv-store-entry get --store-name demo -k missing
```

<!-- check-output -->
```console
$ kvcli kv-store-entry get --store-name demo -k greeting | tr a-z A-Z
HELLO WORLD
```

<!-- no-test: would fail -->
```sh
kvcli kv-store-entry get --store-name nowhere -k x
```

<!-- test -->
<!-- env: GREETING=hi there -->
```sh
echo "$GREETING" | kvcli kv-store-entry create --store-name demo -k from-stdin --value-file -
test "$(kvcli kv-store-entry get --store-name demo -k from-stdin)" = "hi there"
```

```sh
echo "not run: does not start with kvcli" && false
```
""",
    )
    assert run_doc(doc, sandbox_root(tmp_path), isolated) == 5


def test_check_output_notices_a_difference(tmp_path, isolated, monkeypatch):
    doc = write(
        tmp_path,
        """\
<!-- setup: kvcli kv-store create --name demo -->
<!-- check-output -->
```console
$ kvcli kv-store-entry list --store-name demo --format plain
something
```
""",
    )
    with pytest.raises(AssertionError, match="should print"):
        run_doc(doc, sandbox_root(tmp_path), isolated)


def test_plain_commands_run_in_process_and_shell_syntax_in_bash():
    plain = Sandbox._plain
    assert plain("kvcli kv-store-entry create -s S -k 'a b' --value \"x y\"  # note") == [
        "kv-store-entry", "create", "-s", "S", "-k", "a b", "--value", "x y"
    ]  # fmt: skip
    for text in ("kvcli get > out.txt", "kvcli a | head", "kvcli --value \"$HOME\"", "kvcli --prefix a*",
                 "echo x | kvcli", "kvcli a && kvcli b", "FOO=1 kvcli a"):  # fmt: skip
        assert plain(text) is None, text
