"""The click-free fast path (kvcli.cli.fast) against the Typer commands, for every option of every fast command.

The cases are generated from the spec the fast path parses with (kvcli.cli._fastspec, itself generated from the Typer
commands), so an option added to the spec is compared here without anyone writing a case for it. Each case runs on
both backends: embedded, and HTTP against a real `kvcli local serve` (tests/served.py) over the same data. A case
either runs on the fast path and gives byte for byte the Typer command's stdout, stderr and exit code (successes and
errors: a missing store, a missing key, a generation mismatch, a refused flag combination), or — for what the fast
path cannot reproduce exactly (a value click refuses, an unknown flag, --help, a repeated option) — is declined, so the
full CLI answers it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kvcli.cli import _fastspec as spec
from kvcli.cli.fast import BODIES
from kvcli.entry import run_fast
from tests.conftest import Result, invoke, subprocess_env

STDIN = b"from stdin \x00\xff"
READ_KEYS = {"k1": b"hello world", "k2": b"second", "bin": bytes(range(256)), "empty": b"", "-dash": b"dash",
             'q"uote \u00fcn\u00ef': b"\x00\xff", "a\tb": b"tab"}  # fmt: skip

# what each command needs to do something, and which option each word of it fills
BASE: dict[str, list[str]] = {
    "kv-store list": [],
    "kv-store-entry get": ["-s", "{sid}", "-k", "k1"],
    "kv-store-entry describe": ["-s", "{sid}", "-k", "k1"],
    "kv-store-entry list": ["-s", "{sid}"],
    "kv-store-entry create": ["-s", "{wsid}", "-k", "w1", "--value", "new"],
    "kv-store-entry delete": ["-s", "{wsid}", "-k", "w1"],
}
WRITES = ("kv-store-entry create", "kv-store-entry delete")
#: create's bulk-import options, each tried on an import (the base that option needs) rather than on one key
BULK_BASE: dict[str, list[str]] = {
    "file": ["-s", "{wsid}", "--file", "{nd}"],
    "dir_": ["-s", "{wsid}", "--dir", "{bdir}"],
    "toml_store": ["-s", "{wsid}", "--file", "{toml}"],
    "max_errors": ["-s", "{wsid}", "--file", "{bad}"],
    "failed_out": ["-s", "{wsid}", "--file", "{bad}"],
}
for _dest in ("dir_allow_hidden", "dir_concurrency", "recursive"):
    BULK_BASE[_dest] = BULK_BASE["dir_"]
SHARED = {"metadata", "ttl", "background_fetch", "json_out"}  # options of one key and of an import
for _dest in ("stdin", "bulk_format", "concurrency", "batch_size", "batch_bytes", "resume", "bulk_dry_run", *SHARED):
    BULK_BASE[_dest] = BULK_BASE["file"]
SOURCES = {"file", "stdin", "dir_"}  # one replaces another, as --store-id and --store-name do
BULK_NDJSON = (b'{"key":"b1","value":"b25l"}\n{"key":"b2","value":"dHdv","metadata":"m2"}\n'
               b'{"key":"b3","value":"","time_to_live_sec":60}\n')
BAD_NDJSON = b'{"key":"b1","value":"b25l"}\n{"key":"","value":"eA=="}\n{"key":"b4","value":"%%%"}\nnot json\n'
TOML = b'[[local_server.kv_stores.s1]]\nkey = "t1"\ndata = "toml"\n[[local_server.kv_stores.s2]]\nkey = "t2"\n' \
       b'data = "two"\n'
BULK_FILES = {"f1": b"one", "f2": b"", ".hidden": b"h", "sub/f3": b"three"}

# values worth trying for each option (the first for every spelling, all of them for the longest)
VALUES: dict[str, list[str]] = {
    "store_id": ["{sid}", "no-such-store", ""],
    "store_name": ["test-store", "no-such-name"],
    "key": ["k1", "nope", "", "bin", "x" * 1025],
    "value": ["v", ""],
    "value_file": ["{file}", "-", "{missing}"],
    "metadata": ["meta", "a\nb"],
    "if_generation_match": ["{gen}", "7", "0", "18446744073709551615"],
    "ttl": ["60", "1"],
    "prefix": ["k", "", "zzz"],
    "limit": ["1", "2", "100"],
    "cursor": ["bogus"],
    # create's bulk options
    "file": ["{nd}", "{bad}", "{missing}", "{toml}", "-"],
    "dir_": ["{bdir}", "{missing}", "{nd}"],
    "bulk_format": ["ndjson", "wrangler", "bogus"],
    "toml_store": ["s1", "nope"],
    "concurrency": ["1", "2", "0"],
    "batch_size": ["1", "2", "0"],
    "batch_bytes": ["1", "100000", "0"],
    "max_errors": ["0", "5"],
    "failed_out": ["{failed}", "{missing}/failed.ndjson"],
    "dir_concurrency": ["1", "3"],
}
WRITE_VALUES = {"store_id": ["{wsid}", "no-such-store"], "store_name": ["w-store", "no-such-name"],
                "key": ["w1", "fresh", ""]}  # fmt: skip


@dataclass
class Case:
    command: str
    argv: list[str]
    writes: bool = field(default=False)

    @property
    def id(self) -> str:
        return " ".join(self.argv)[:90].replace("\n", "\\n") or "(none)"


def _replace(base: list[str], dest: str, words: list[str], options: dict[str, tuple]) -> list[str]:
    """``base`` with the option filling ``dest`` (if any) replaced by ``words``."""
    out: list[str] = []
    i = 0
    while i < len(base):
        name = base[i]
        found = options.get(name)
        takes = found is not None and found[1] != "flag"
        if found is not None and (found[0] == dest or {found[0], dest} == {"store_id", "store_name"}
                                  or {found[0], dest} <= SOURCES):
            i += 2 if takes else 1
            continue
        out.extend(base[i : i + (2 if takes else 1)])
        i += 2 if takes else 1
    return out + words


def eligible_cases() -> list[Case]:
    cases: list[Case] = []
    for command, entry in spec.COMMANDS.items():
        words = command.split()
        options = entry["options"]
        writes = command in WRITES
        by_dest: dict[str, list[str]] = {}
        for name, (dest, _, _) in options.items():
            by_dest.setdefault(dest, []).append(name)
        cases.append(Case(command, words + BASE[command], writes))
        for dest, names in by_dest.items():
            _, kind, detail = options[names[0]]
            if kind == "flag":
                values = [None]
            elif kind == "choice":  # a rich table (kv-store list at "table") is the full CLI's, asserted below
                values = [v for v in detail if not (command == "kv-store list" and v == "table")]
            else:
                values = (WRITE_VALUES.get(dest) if writes else None) or VALUES[dest]
            longest = max(names, key=len)
            bases = [BASE[command]]
            if command == "kv-store-entry create" and dest in SHARED:  # each value on one key, the first on an import
                bases = [BASE[command], BULK_BASE[dest]]
            elif command == "kv-store-entry create" and dest in BULK_BASE:  # on an import, and refused on one key
                bases = [BULK_BASE[dest]] + ([BASE[command]] if dest not in SOURCES else [])
            for base in bases:
                for name in names:
                    for n, value in enumerate(values):
                        if (n and name != longest) or (base is not bases[0] and n):
                            continue
                        given = [name] if value is None else [name, value]
                        cases.append(Case(command, words + _replace(base, dest, given, options), writes))
                    if kind != "flag" and base is bases[0]:  # the glued spellings: --opt=VALUE, -oVALUE
                        glued = f"{name}={values[0]}" if name.startswith("--") else f"{name}{values[0]}"
                        cases.append(Case(command, words + _replace(base, dest, [glued], options), writes))
        # global options before, between and after the words
        for glob in (["-q"], ["--quiet"], ["-v"], ["--verbose"], ["-y"], ["-i"], ["--local"], ["-q", "-q"]):
            cases.append(Case(command, glob + words + BASE[command], writes))
            cases.append(Case(command, words + BASE[command] + glob, writes))
        cases.append(Case(command, [words[0], "-q", *words[1:], *BASE[command]], writes))
        cases.append(Case(command, ["-v", "-q", *words, *BASE[command]], writes))  # refused together
    extra = [
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "fresh", "--value", "v", "--add"],  # a new key: created
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "w1", "--value", "v", "--add", "--append"],
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "w1", "--value", "v", "--add", "--if-generation-match",
         "{gen}"],
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "w1", "--value", "v", "--value-file", "{file}"],
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "w1"],  # no value
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "a\nb", "--value", "v"],
        ["kv-store-entry", "create", "-s", "{wsid}", "-k", "w1", "--value-file", "{dir}"],
        ["kv-store-entry", "delete", "-s", "{wsid}", "-k", "fresh"],  # missing key
        ["kv-store-entry", "delete", "-s", "{wsid}", "-k", "fresh", "--force"],
        ["kv-store-entry", "delete", "-s", "{wsid}", "-k", "fresh", "--dry-run", "--force", "--json"],
        ["kv-store-entry", "delete", "-s", "{wsid}"],  # nothing to delete
        ["kv-store-entry", "delete", "-s", "{wsid}", "-k", "w1", "--if-generation-match", "7", "--dry-run"],
        ["kv-store-entry", "get", "-s", "{sid}", "--store-name", "test-store", "-k", "k1"],
        ["kv-store-entry", "get", "-k", "k1"],
        ["kv-store-entry", "list", "-s", "{sid}", "--output-format", "json", "--format", "plain"],
        ["kv-store-entry", "list", "-s", "{sid}", "--json", "--output-format", "ndjson"],
        ["kv-store-entry", "list", "-s", "{sid}", "--limit", "2", "--prefix", "k", "--output-format", "table"],
        ["kv-store", "list", "--json", "--output-format", "plain"],
        ["kv-store-entry", "describe", "-s", "{sid}", "-k", "a\tb"],
        # imports: several options together, the globals, refused combinations
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{bad}", "--max-errors", "0", "--failed-out",
         "{failed}", "--json"],
        ["kv-store-entry", "create", "--store-name", "w-store", "--dir", "{bdir}", "--recursive",
         "--dir-allow-hidden", "--dir-concurrency", "2", "--json"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--stdin", "--format", "ndjson", "--batch-size", "1",
         "--concurrency", "1", "--metadata", "meta", "--ttl", "60", "--background-fetch"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--resume", "--dry-run"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--stdin", "--resume"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--dir", "{bdir}"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--stdin"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "-k", "w1"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--add"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--metadata", "a\nb"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--recursive"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--format", "viceroy"],
        ["kv-store-entry", "create", "-s", "no-such-store", "--file", "{nd}"],
        ["kv-store-entry", "create", "--store-name", "no-such-name", "--file", "{nd}", "--json"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{bad}", "-q"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "-v"],
        ["kv-store-entry", "create", "-s", "{wsid}", "--file", "{nd}", "--debug-mode"],
    ]
    cases += [Case(" ".join(argv[:2]), argv, " ".join(argv[:2]) in WRITES) for argv in extra]
    seen: set[tuple[str, ...]] = set()
    unique = []
    for case in cases:
        if tuple(case.argv) not in seen:
            seen.add(tuple(case.argv))
            unique.append(case)
    return unique


def declined_cases() -> list[list[str]]:
    """Invocations the fast path must leave to the full CLI: click words the error, or it is not a fast command."""
    cases: list[list[str]] = []
    for command, entry in spec.COMMANDS.items():
        words = command.split()
        base = words + BASE[command]
        options = entry["options"]
        for name, (dest, kind, detail) in options.items():
            if kind == "flag":
                cases.append(base + [f"{name}=1"] if name.startswith("--") else base + [f"{name}j"])
                continue
            cases.append(base + [name])  # no value
            cases.append(base + [name, "--json"])  # a value that looks like a flag
            bad: list[str] = []
            if kind == "int":
                bad = ["x", "-1", "+1", " 1", "1.5", "\u0661"]
            elif kind == "choice":
                bad = ["bogus", detail[0].upper()]
            if kind == "int" and detail[0] is not None:
                bad.append(str(detail[0] - 1))
            if dest == "if_generation_match":
                bad.append("18446744073709551616")
            for value in bad:
                cases.append(_replace(base, dest, [name, value], options))
            value = "2" if kind == "int" else detail[0] if kind == "choice" else "x"
            cases.append(_replace(base, dest, [name, value, name, value], options))  # given twice
        cases += [base + ["--help"], base + ["-h"], base + ["--nope"], base + ["extra"], base + ["--"],
                  base + ["--version"], [words[0], *BASE[command]], ["-x", *base]]  # fmt: skip
        other = {"kv-store-entry delete": ["--prefix", "k"],
                 "kv-store-entry list": [], "kv-store list": []}.get(command)  # fmt: skip
        if other:
            cases.append(base + other)
    cases += [[], ["--help"], ["kv-store-entry"], ["kv-store"], ["kv-store-entry", "insert", "-s", "x", "-k", "k",
              "--value", "v"], ["object-store", "list"], ["kv-store", "describe", "-s", "x"],
              ["kv-store-entry", "-s", "x", "get", "-k", "k"], ["get", "kv-store-entry"],
              ["kv-store", "list", "--output-format", "table"]]  # fmt: skip
    return cases


ELIGIBLE = eligible_cases()
DECLINED = declined_cases()


# ------------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One data directory with a read store and a write store, and `kvcli local serve` over it."""
    from tests.served import LocalServe

    root = tmp_path_factory.mktemp("fastpath")
    data = root / "data"
    env = {"KVCLI_DATA_DIR": str(data), "KVCLI_CONFIG_DIR": str(root / "config")}
    sid = invoke(["kv-store", "create", "--name", "test-store", "--json"], env=env).json()["StoreID"]
    wsid = invoke(["kv-store", "create", "--name", "w-store", "--json"], env=env).json()["StoreID"]
    for key, value in READ_KEYS.items():
        res = invoke(["-q", "kv-store-entry", "create", "-s", sid, f"--key={key}", "--value-file", "-"], input=value,
                     env=env)  # fmt: skip
        assert res.exit_code == 0, res
    gen = invoke(["kv-store-entry", "describe", "-s", sid, "-k", "k1", "--json"], env=env).json()["generation"]
    (root / "value.bin").write_bytes(b"from a file \xfe")
    (root / "adir").mkdir()
    (root / "bulk.ndjson").write_bytes(BULK_NDJSON)
    (root / "bad.ndjson").write_bytes(BAD_NDJSON)
    (root / "fastly.toml").write_bytes(TOML)
    for name, content in BULK_FILES.items():
        (root / "bdir" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "bdir" / name).write_bytes(content)
    serve = LocalServe(data)
    try:
        yield {"root": root, "data": data, "sid": sid, "wsid": wsid, "gen": gen, "url": serve.url, "serve": serve}
    finally:
        serve.stop()


def backend_env(world, backend: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {"KVCLI_CONFIG_DIR": str(world["root"] / "config")}
    if backend == "embedded":
        return env | {"KVCLI_DATA_DIR": str(world["data"])}
    return env | {"KVCLI_DATA_DIR": str(world["root"] / "unused"), "FASTLY_API_ENDPOINT": world["url"],
                  "FASTLY_API_TOKEN": "test-token"}  # fmt: skip


def reset_write_store(world) -> str:
    """w1 = "base" and no other key (an import's are gone), no --failed-out file or import journal left: the same
    starting point for each path; the generation of w1."""
    import shutil

    import kvcli

    (world["root"] / "failed.ndjson").unlink(missing_ok=True)
    for data in (world["data"], world["root"] / "unused"):  # the journals of both backends' imports
        shutil.rmtree(data / "imports", ignore_errors=True)
    with kvcli.connect(data_dir=world["data"]) as kv:
        store = kv.store(world["wsid"])
        store["w1"] = b"base"
        for key in [k for k in store if k != "w1"]:
            del store[key]
        return str(store.describe("w1").generation)


def written(world) -> tuple:
    """What a write left: the write store's keys with their values, metadata and whether they expire, and the
    --failed-out file."""
    import kvcli

    with kvcli.connect(data_dir=world["data"]) as kv:
        store = kv.store(world["wsid"])
        items = []
        for key in sorted(store):
            info = store.describe(key)
            items.append((key, store[key], info.metadata, info.expires_at is not None))
    failed = world["root"] / "failed.ndjson"
    return tuple(items), failed.read_bytes() if failed.exists() else None


def fill(argv: list[str], world, gen: str) -> list[str]:
    subs = {"{sid}": world["sid"], "{wsid}": world["wsid"], "{gen}": gen, "{url}": world["url"],
            "{file}": str(world["root"] / "value.bin"), "{missing}": str(world["root"] / "missing"),
            "{dir}": str(world["root"] / "adir"), "{nd}": str(world["root"] / "bulk.ndjson"),
            "{bad}": str(world["root"] / "bad.ndjson"), "{toml}": str(world["root"] / "fastly.toml"),
            "{bdir}": str(world["root"] / "bdir"), "{failed}": str(world["root"] / "failed.ndjson")}  # fmt: skip
    out = []
    for arg in argv:
        for k, v in subs.items():
            arg = arg.replace(k, v)
        out.append(arg)
    return out


def run_path(argv: list[str], *, fast: bool, env: dict[str, str | None]) -> Result | None:
    from kvcli.cli.main import run

    runner = CliRunner()
    with runner.isolation(input=BULK_NDJSON if "--stdin" in argv else STDIN, env=env) as (out, err, _):
        code = run_fast(argv) if fast else run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        if code is None:
            return None
        return Result(code, out.getvalue(), err.getvalue())


def normalized(res: Result, writes: bool) -> tuple[int, bytes, bytes]:
    """What may differ between two runs: --debug-mode's timings, the server's Date header and the traceback's frames
    (the same error, raised through another caller); after a write store reset, the key's new generation."""
    stderr = re.sub(rb"\(\d+ ms\)", b"(N ms)", res.stderr_bytes)
    stderr = re.sub(rb"(?im)^(\[debug\] < date:).*$", rb"\1 D", stderr)
    stderr = re.sub(rb"(?ms)^Traceback \(most recent call last\):\n.*?^(?=\S)", b"Traceback: frames\n", stderr)
    stdout = res.stdout_bytes
    if writes:
        stderr = re.sub(rb"\b\d{13,}\b", b"G", stderr)
        # an import's timings: the summary line's and --json's
        stderr = re.sub(rb" in \d+\.\d\ds( \([\d,]+ entries/s\))?", b" in Ts", stderr)
        stdout = re.sub(rb'("(?:elapsed_seconds|entries_per_second)": )[\d.e+-]+', rb"\1T", stdout)
    return res.exit_code, stdout, stderr


def compare(world, case_argv: list[str], writes: bool, backend: str) -> tuple[Result, Result]:
    env = backend_env(world, backend)
    results = []
    for fast in (True, False):
        gen = reset_write_store(world) if writes else world["gen"]
        argv = fill(case_argv, world, gen)
        res = run_path(argv, fast=fast, env=env)
        assert res is not None, f"the fast path declined {argv}"
        results.append((res, written(world) if writes else None))
    (fast_res, fast_stored), (full_res, full_stored) = results
    assert normalized(fast_res, writes) == normalized(full_res, writes), (fast_res, full_res)
    assert fast_stored == full_stored
    return fast_res, full_res


BACKENDS = ["embedded", "http"]


# ------------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ELIGIBLE, ids=lambda c: c.id)
def test_the_fast_path_matches_the_typer_command(world, case, backend):
    compare(world, case.argv, case.writes, backend)


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a)[:90] or "(none)")
def test_what_the_fast_path_cannot_reproduce_goes_to_the_full_cli(world, argv):
    assert run_path(fill(argv, world, world["gen"]), fast=True, env=backend_env(world, "embedded")) is None


@pytest.mark.parametrize(
    "argv",
    [["-t", "test-token", "--endpoint", "{url}", "kv-store-entry", "get", "-s", "{sid}", "-k", "k1"],
     ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--api={url}", "--token=test-token"],
     ["--endpoint", "{url}", "kv-store", "list", "--json"],
     ["kv-store-entry", "describe", "-s", "{sid}", "-k", "k1", "--endpoint", "{url}", "-v"],
     ["kv-store-entry", "list", "-s", "{sid}", "--debug-mode", "--endpoint", "{url}"],
     ["kv-store-entry", "get", "-s", "{sid}", "-k", "nope", "--debug-mode", "--endpoint", "{url}"],
     ["-o", "no-such-profile", "kv-store", "list"]],
    ids=lambda a: " ".join(a)[:90],
)  # fmt: skip
def test_global_options_that_choose_the_backend(world, argv):
    compare(world, argv, False, "embedded")


@pytest.mark.parametrize("command", [["get", "-s", "{sid}", "-k", "k1"],
                                     ["create", "-s", "{wsid}", "--file", "{nd}", "-q"]], ids=["get", "import"])
def test_the_fast_path_honours_proxy_variables_as_httpx_does(world, command):
    """The fast path talks HTTP through the same adapter: HTTP_PROXY set (to a closed port) sends the request there
    and fails alike on both paths; NO_PROXY for the server's host lets it through. (With a proxy variable set the
    fast path uses httpx, not the light session, which knows no proxies.) A bulk import alike."""
    argv = fill(["kv-store-entry", *command], world, world["gen"])
    env = backend_env(world, "http") | {"HTTP_PROXY": "http://127.0.0.1:9", "KVCLI_HTTP_MAX_ATTEMPTS": "1"}
    reset_write_store(world)
    fast = run_path(argv, fast=True, env=env)
    reset_write_store(world)
    full = run_path(argv, fast=False, env=env)
    assert fast is not None and fast.exit_code != 0 and fast.stdout_bytes == b""
    assert normalized(fast, True) == normalized(full, True), (fast, full)
    reset_write_store(world)
    through = run_path(argv, fast=True, env=env | {"NO_PROXY": "127.0.0.1"})
    assert through is not None and through.exit_code == 0
    assert through.stdout_bytes == (b"hello world" if command[0] == "get" else b"")


def test_the_cases_cover_every_option_and_real_outcomes(world):
    """Every spelling of every fast option appears in the comparisons, and they hold successes and each kind of
    error (usage 2, not found 3, conflict 4)."""
    for command, entry in spec.COMMANDS.items():
        used = {a.split("=")[0] if a.startswith("--") else a[:2] for c in ELIGIBLE if c.command == command
                for a in c.argv if a.startswith("-")}  # fmt: skip
        assert set(entry["options"]) <= used, command
    assert set(spec.COMMANDS) == set(BODIES)
    codes = set()
    for case in ELIGIBLE[:: max(1, len(ELIGIBLE) // 60)] + [c for c in ELIGIBLE if "fresh" in c.argv]:
        gen = reset_write_store(world) if case.writes else world["gen"]
        codes.add(run_path(fill(case.argv, world, gen), fast=False, env=backend_env(world, "embedded")).exit_code)
    assert {0, 2, 3, 4} <= codes, codes


PROBE = (
    "import sys\n"
    "from kvcli import entry\n"
    "for name in entry.UNUSED_OPTIONAL_MODULES:\n"
    "    sys.modules.setdefault(name, None)\n"
    "code = entry.run_fast(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'starlette', 'uvicorn'})\n"
    "http = sorted({m for m, mod in sys.modules.items() if mod is not None and (m.split('.')[0] in\n"
    "               ('httpx', 'httpcore', 'h11', 'email', 'ssl') or m in ('http.client', 'urllib.request'))})\n"
    "sys.stderr.write('\\n' + repr((code, heavy + http)))\n"
)


def probe(world, argv: list[str], backend: str) -> subprocess.CompletedProcess:
    """Run ``argv`` through the console script's fast path in a new process; its last stderr line is (exit code, the
    heavy modules it imported)."""
    env = subprocess_env({k: v for k, v in backend_env(world, backend).items() if v is not None})
    return subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, input=STDIN)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("command", list(BODIES))
def test_in_a_real_process_neither_click_typer_nor_rich_is_imported(world, command, backend):
    """The point of the fast path: each of the six commands, on each backend, runs without them (and gives the
    console script's output). Over plain HTTP it also runs without httpx, httpcore, h11, http.client, urllib.request,
    the email package and ssl: the light session (kvcli.api.http.light) sends the request."""
    gen = reset_write_store(world)
    proc = probe(world, fill(command.split() + BASE[command] + ["--json"], world, gen), backend)
    assert proc.stderr.decode().strip().splitlines()[-1] == "(0, [])", proc.stderr
    json.loads(proc.stdout)  # --json: one JSON document (or, for get, one line)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", [["--file", "{nd}"], ["--dir", "{bdir}", "--recursive"]], ids=["file", "dir"])
def test_a_bulk_import_in_a_real_process_imports_neither_click_typer_rich_nor_httpx(world, source, backend):
    """A bulk import (`create --file`, `--dir`) runs on the fast path too: over http:// its batches go through the
    light session from the import's worker threads, without httpx; every entry is stored."""
    reset_write_store(world)
    argv = fill(["kv-store-entry", "create", "-s", "{wsid}", *source, "--concurrency", "2", "--batch-size", "1",
                 "--json"], world, "")  # fmt: skip
    proc = probe(world, argv, backend)
    assert proc.stderr.decode().strip().splitlines()[-1] == "(0, [])", proc.stderr
    report = json.loads(proc.stdout)
    keys = {k for k, *_ in written(world)[0]} - {"w1"}
    expected = {"b1", "b2", "b3"} if source[0] == "--file" else set(BULK_FILES) - {".hidden"}
    assert report["written"] == len(expected) and keys == expected, (report, keys)


def test_the_embedded_get_imports_no_http_client(world):
    probe = (
        "import sys\nfrom kvcli import entry\ncode = entry.run_fast(sys.argv[1:])\nsys.stdout.flush()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'ssl'})\n"
        "sys.stderr.write('\\n' + repr((code, heavy)))\n"
    )
    argv = fill(["kv-store-entry", "get", "-s", "{sid}", "-k", "k1"], world, world["gen"])
    env = subprocess_env({k: v for k, v in backend_env(world, "embedded").items() if v is not None})
    proc = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True)
    assert proc.stderr.decode().strip().splitlines()[-1] == "(0, [])", proc.stderr
    assert proc.stdout == b"hello world"


def test_the_spec_is_what_the_typer_commands_declare():
    """kvcli/cli/_fastspec.py is generated (scripts/gen_fastpath.py): a changed option must be regenerated, or the
    fast path would accept what the Typer command refuses."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    loaded = importlib.util.spec_from_file_location("gen_fastpath", root / "scripts" / "gen_fastpath.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    assert (root / "kvcli" / "cli" / "_fastspec.py").read_text(encoding="utf-8") == module.render(), (
        "kvcli/cli/_fastspec.py is out of date: run python scripts/gen_fastpath.py"
    )


def test_options_a_fast_body_does_not_take_are_left_to_the_full_cli():
    """The spec holds only the options of each command that its click-free body takes: the prefix/--all modes of
    delete, or any flag added to a Typer command later, takes the full CLI. create's body takes every option of the
    Typer command, the bulk import's included."""
    import click

    from kvcli.cli.main import get_root_command

    root = get_root_command()
    ctx = click.Context(root, info_name="kvcli")
    group = root.get_command(ctx, "kv-store-entry")  # type: ignore[attr-defined]
    create = group.get_command(click.Context(group, parent=ctx, info_name="kv-store-entry"), "create")
    declared = {opt for param in create.params for opt in (*param.opts, *param.secondary_opts)}
    assert declared == set(spec.COMMANDS["kv-store-entry create"]["options"])
    assert {"--file", "--stdin", "--dir", "--failed-out", "--resume"} <= declared
    assert "--prefix" not in spec.COMMANDS["kv-store-entry delete"]["options"]
    assert "--all" not in spec.COMMANDS["kv-store-entry delete"]["options"]
    assert "--version" not in spec.GLOBALS  # eager, with a callback

