"""The fast entry point (kvcli.entry) against the full Typer CLI: same bytes on stdout and stderr, same exit codes.

Every invocation in ELIGIBLE must be handled by the fast path (run_fast returns a code) and produce exactly what
``kvcli.cli.main.run`` produces; every invocation in FALLBACK must be left to the full CLI (run_fast returns None).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kvcli.entry import run_fast
from tests.conftest import Result, subprocess_env

ALL_BYTES = bytes(range(256))


def run_path(argv: list[str], *, fast: bool, env: dict[str, str | None] | None = None) -> Result | None:
    """Run argv through one entry point with captured output; None if the fast path declined it."""
    from kvcli.cli.main import run

    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _):
        code = run_fast(argv) if fast else run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        if code is None:
            return None
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def data(cli, store_id):
    """A store with a few keys; returns (store_id, generation of 'k1')."""
    for key, value in (("k1", b"hello world"), ("bin", ALL_BYTES), ("empty", b""), ('q"uote ünï', b"\x00\xff"),
                       ("-dash", b"dash")):  # fmt: skip
        res = cli("-q", "kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value-file", "-", input=value)
        assert res.exit_code == 0, res
    gen = cli("kv-store-entry", "describe", "-s", store_id, "-k", "k1", "--json").json()["generation"]
    return store_id, gen


ELIGIBLE = [
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "-v"],
    ["-v", "kv-store-entry", "get", "-s", "{sid}", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "-y"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "-o", "work"],
    ["kv-store-entry", "describe", "-s", "{sid}", "-k", "k1"],
    ["kv-store-entry", "get", "--store-id", "{sid}", "--key", "k1"],
    ["kv-store-entry", "get", "--store-id={sid}", "--key=k1"],
    ["kv-store-entry", "get", "-s{sid}", "-kk1"],
    ["kv-store-entry", "get", "-k", "k1", "-s", "{sid}"],
    ["kv-store-entry", "get", "--store-name", "test-store", "-k", "k1"],
    ["kv-store-entry", "get", "--store-name=test-store", "-k", "bin"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "empty"],
    ["kv-store-entry", "get", "-s", "{sid}", "--key=-dash"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", 'q"uote ünï', "--json"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "bin", "-j"],
    ["kv-store-entry", "get", "-j", "-j", "-s", "{sid}", "-k", "k1"],
    ["-q", "kv-store-entry", "get", "-s", "{sid}", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--quiet"],
    ["kv-store-entry", "-q", "get", "-s", "{sid}", "-k", "k1"],
    ["--local", "kv-store-entry", "get", "-s", "{sid}", "-k", "k1"],
    ["kv-store-entry", "get", "--local", "-q", "-s", "{sid}", "-k", "k1", "--local"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "{gen}"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match={gen}", "--json"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "12345"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "0"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "18446744073709551615"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "nope", "--if-generation-match", "7"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "nope"],
    ["kv-store-entry", "get", "-s", "no-such-store", "-k", "k1"],
    ["kv-store-entry", "get", "--store-name", "no-such-name", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", ""],
    ["kv-store-entry", "get", "-s", "{sid}", "--key="],
    ["kv-store-entry", "get", "-s", "{sid}", "-k=k1"],
    ["kv-store-entry", "get", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "--store-name", "test-store", "-k", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "a\nb"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "x" * 1025],
    ["kv-store-entry", "get"],
]

FALLBACK = [
    [],
    ["--help"],
    ["--version", "kv-store", "list"],
    ["kv-store-entry"],
    ["kv-store-entry", "get", "--help"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "-q"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "a", "-k", "b"],
    ["kv-store-entry", "get", "-s", "{sid}", "--store-id", "{sid}", "-k", "a"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "x"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "-1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "+1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "18446744073709551616"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--if-generation-match", "١"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "extra"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--"],
    ["kv-store-entry", "get", "-s", "{sid}", "-jk", "k1"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--jso"],
    ["kv-store-entry", "get", "-s", "{sid}", "-k", "k1", "--version"],
    ["kv-store-entry", "create", "-s", "{sid}", "--file", "x.ndjson", "--concurrency", "-1"],  # a bulk import is fast
    ["kv-store-entry", "delete", "-s", "{sid}", "--all"],
    ["kv-store", "create", "--name", "x"],
    ["kv-store-entry", "-s", "{sid}", "get", "-k", "k1"],
    ["kv-store", "get", "-s", "{sid}"],
    ["get", "kv-store-entry", "-s", "{sid}", "-k", "k1"],
    ["object-store", "list"],
]


def fill(argv: list[str], sid: str, gen: str) -> list[str]:
    return [a.replace("{sid}", sid).replace("{gen}", gen) for a in argv]


@pytest.mark.parametrize("argv", ELIGIBLE, ids=lambda a: " ".join(a)[:80])
def test_fast_path_matches_the_full_cli(data, argv):
    sid, gen = data
    argv = fill(argv, sid, gen)
    fast = run_path(argv, fast=True)
    assert fast is not None, "the fast path declined an invocation it should handle"
    full = run_path(argv, fast=False)
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


@pytest.mark.parametrize("argv", FALLBACK, ids=lambda a: " ".join(a)[:80] or "(none)")
def test_everything_else_goes_to_the_full_cli(data, argv):
    sid, gen = data
    assert run_path(fill(argv, sid, gen), fast=True) is None


def test_the_table_covers_real_outcomes(data):
    """The comparison above is only worth something if the table holds successes and each kind of error."""
    sid, gen = data
    codes = {run_path(fill(a, sid, gen), fast=False).exit_code for a in ELIGIBLE}
    assert {0, 2, 3, 4} <= codes


def test_version(data):
    fast = run_path(["--version"], fast=True)
    full = run_path(["--version"], fast=False)
    assert fast is not None and fast.stdout.startswith("kvcli ")
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


def test_shell_completion_goes_to_the_full_cli(data):
    sid, _ = data
    argv = ["kv-store-entry", "get", "-s", sid, "-k", "k1"]
    assert run_path(argv, fast=True, env={"_KVCLI_COMPLETE": "bash_complete"}) is None


@pytest.mark.parametrize(
    "env", [{"FASTLY_API_TOKEN": "t", "FASTLY_API_ENDPOINT": "http://127.0.0.1:9"}, {"KVCLI_PROFILE": "dev"}],
    ids=lambda e: next(iter(e)),
)
def test_a_configured_target_runs_fast_too_and_fails_alike(data, env):
    """The fast path runs on either backend now: an unusable target is the same error on both paths (a closed port
    with no retries here, a missing profile)."""
    sid, _ = data
    env = env | {"KVCLI_HTTP_MAX_ATTEMPTS": "1"}
    argv = ["kv-store-entry", "get", "-s", sid, "-k", "k1"]
    fast = run_path(argv, fast=True, env=env)
    full = run_path(argv, fast=False, env=env)
    assert fast is not None and fast.exit_code != 0
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


def test_empty_env_values_count_as_unset(data):
    sid, _ = data
    res = run_path(["kv-store-entry", "get", "-s", sid, "-k", "k1"], fast=True,
                   env={"FASTLY_API_TOKEN": "", "KVCLI_PROFILE": ""})  # fmt: skip
    assert res is not None and res.stdout_bytes == b"hello world"


def test_a_local_default_profile_and_the_local_flag_run_fast(cli, data, tmp_path):
    sid, _ = data
    argv = ["kv-store-entry", "get", "-s", sid, "-k", "k1"]
    assert cli("profile", "create", "work", "--token", "secret-token", "--default").exit_code == 0
    with_local = run_path(["--local", *argv], fast=True)  # --local wins over the default (Fastly) profile
    assert with_local is not None and with_local.stdout_bytes == b"hello world"

    other = tmp_path / "other-data"
    assert cli("profile", "create", "dev", "--local", "--data-dir", str(other), "--default").exit_code == 0
    fast = run_path(argv, fast=True)  # a local default profile: its own data dir, where the store does not exist
    full = run_path(argv, fast=False)
    assert fast is not None and fast.exit_code == 3
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


def test_a_broken_config_is_the_same_error_on_both_paths(data, isolated):
    sid, _ = data
    isolated["config"].mkdir(parents=True, exist_ok=True)
    (isolated["config"] / "config.toml").write_text("default_profile = [\n")
    argv = ["kv-store-entry", "get", "-s", sid, "-k", "k1"]
    fast = run_path(argv, fast=True)
    full = run_path(argv, fast=False)
    assert fast is not None and fast.exit_code != 0 and fast.stderr.startswith("Error: ")
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


def test_an_unusable_data_dir_is_the_same_error(cli, isolated, tmp_path):
    bad = tmp_path / "not-a-dir"
    bad.write_text("x")
    env = {"KVCLI_DATA_DIR": str(bad)}
    argv = ["kv-store-entry", "get", "-s", "abc", "-k", "k1"]
    fast = run_path(argv, fast=True, env=env)
    full = run_path(argv, fast=False, env=env)
    assert fast is not None and fast.exit_code != 0 and fast.stderr.startswith("Error: ")
    assert (fast.exit_code, fast.stdout_bytes, fast.stderr_bytes) == (
        full.exit_code, full.stdout_bytes, full.stderr_bytes
    )  # fmt: skip


def test_console_script_skips_typer_and_matches(data):
    """In a real process: the output is the same, and typer, click, rich, httpx, email, dataclasses and inspect are
    never imported."""
    sid, _ = data
    probe = (
        "import sys\n"
        "from kvcli import entry\n"
        "code = entry.run_fast(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'httpx', 'starlette',"
        " 'uvicorn', 'email', 'tomllib', 'secrets', 'dataclasses', 'inspect'})\n"
        "sys.stderr.write('\\n' + repr((code, heavy)))\n"
    )
    argv = ["kv-store-entry", "get", "-s", sid, "-k", "k1", "--json"]
    proc = subprocess.run([sys.executable, "-c", probe, *argv], env=subprocess_env(), capture_output=True)
    assert proc.stderr.decode().strip().splitlines()[-1] == "(0, [])", proc.stderr
    assert json.loads(proc.stdout) == {"k1": "aGVsbG8gd29ybGQ="}

    for args in (argv, ["--version"], ["kv-store-entry", "get", "-s", sid, "-k", "nope"]):
        via_entry = subprocess.run([sys.executable, "-m", "kvcli", *args], env=subprocess_env(), capture_output=True)
        via_typer = subprocess.run([sys.executable, "-c", "from kvcli.cli.main import main; main()", *args],
                                   env=subprocess_env(), capture_output=True)  # fmt: skip
        assert (via_entry.returncode, via_entry.stdout, via_entry.stderr) == (
            via_typer.returncode, via_typer.stdout, via_typer.stderr
        )  # fmt: skip


def test_reading_does_not_wait_for_a_writer(cli, data, isolated):
    """Opening an up-to-date database takes no write lock, so a get is not held up by a long write elsewhere."""
    import sqlite3
    import threading

    sid, _ = data
    writer = sqlite3.connect(isolated["data"] / "kvcli.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write transaction
    try:
        result: list = []
        worker = threading.Thread(
            target=lambda: result.append(run_path(["kv-store-entry", "get", "-s", sid, "-k", "k1"], fast=True)),
            daemon=True,
        )
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "get waited for the writer's lock"
        assert result[0].stdout_bytes == b"hello world"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_a_reader_that_goes_away_is_the_same_exit_on_both_paths(cli, store_id, tmp_path, unbuffered):
    """`kvcli kv-store-entry get … | head -c 10`: the rest of the value cannot be written; never a silent success."""
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 8192)  # 2 MiB, far more than a pipe holds
    assert cli("-q", "kv-store-entry", "create", "-s", store_id, "-k", "big", "--value-file", str(big)).exit_code == 0
    argv = ["kv-store-entry", "get", "-s", store_id, "-k", "big"]
    env = subprocess_env({"PYTHONUNBUFFERED": unbuffered})
    codes = []
    for launcher in (["-m", "kvcli"], ["-c", "from kvcli.cli.main import main; main()"]):
        proc = subprocess.Popen([sys.executable, *launcher, *argv], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stdout.read(10) == bytes(range(10))
        proc.stdout.close()
        proc.wait(timeout=60)
        codes.append((proc.returncode, proc.stderr.read()))
        proc.stderr.close()
    assert codes[0] == codes[1] and codes[0][0] != 0, codes
