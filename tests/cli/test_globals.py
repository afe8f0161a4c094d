"""Global flags (before or after the subcommand), the backend announcement, --version, and the error boundary."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import kvcli
from kvcli.cli.main import get_root_command, hoist_globals
from kvcli.local.engine import Engine
from tests.conftest import subprocess_env


def _one_line(res, code: int, *needles: str) -> str:
    assert res.exit_code == code, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], res
    return lines[0]


@pytest.fixture
def eng(isolated):
    e = Engine.in_dir(isolated["data"])
    yield e
    e.close()


# ----------------------------------------------------------------------------------------------------- hoisting
@pytest.mark.parametrize(
    "argv, expected",
    [
        (["kv-store", "list", "-q"], ["-q", "kv-store", "list"]),
        (["kv-store", "list", "-t", "T", "--json"], ["-t", "T", "kv-store", "list", "--json"]),
        (["kv-store", "list", "--token=T"], ["--token=T", "kv-store", "list"]),
        (["kv-store", "list", "-tT"], ["-tT", "kv-store", "list"]),
        (["kv-store", "list", "-o", "P", "--api", "U"], ["-o", "P", "--api", "U", "kv-store", "list"]),
        (["kv-store", "-q", "list"], ["-q", "kv-store", "list"]),
        (["kv-store", "delete", "-s", "S", "-qy"], ["-qy", "kv-store", "delete", "-s", "S"]),
        # a value that looks like a global flag stays the value of its option
        (["kv-store", "create", "--name", "-q"], ["kv-store", "create", "--name", "-q"]),
        (["kv-store", "create", "-n", "--local", "-v"], ["-v", "kv-store", "create", "-n", "--local"]),
        # a subcommand's own option of the same name wins over the global one
        (["profile", "create", "p", "-t", "T", "--api", "U"], ["profile", "create", "p", "-t", "T", "--api", "U"]),
        (["profile", "create", "p", "--local", "-q"], ["-q", "profile", "create", "p", "--local"]),
        # before the subcommand nothing moves; after `--` nothing moves
        (["-q", "--local", "kv-store", "list"], ["-q", "--local", "kv-store", "list"]),
        (["profile", "create", "--", "-q"], ["profile", "create", "--", "-q"]),
    ],
)
def test_hoist_globals(argv, expected):
    assert hoist_globals(argv, get_root_command()) == expected


def test_a_lazy_command_group_is_built_once_per_run(cli, monkeypatch):
    """hoist_globals and click both resolve the subcommand: the lazy group builds it once (issue 14 measured ~10 ms
    for the second build of kv-store-entry)."""
    import typer

    from kvcli.cli import kv_store_entry

    built = []
    real = typer.main.get_command

    def counting(app):
        if app is kv_store_entry.app:
            built.append(app)
        return real(app)

    monkeypatch.setattr(typer.main, "get_command", counting)
    res = cli("kv-store-entry", "list", "-s", "nope", "--prefix", "x")  # the full CLI (--prefix is not fast)
    assert res.exit_code == 3, res
    assert len(built) == 1


# ---------------------------------------------------------------------------------------- before and after
@pytest.mark.parametrize(
    "args",
    [
        ["-q", "kv-store", "create", "--name", "a"],
        ["kv-store", "create", "--name", "a", "-q"],
        ["kv-store", "create", "-q", "--name", "a"],
        ["kv-store", "create", "--name", "a", "--quiet"],
    ],
)
def test_quiet_before_or_after_silences_messages(cli, args):
    res = cli(*args)
    assert (res.exit_code, res.stdout, res.stderr) == (0, "", ""), res


def test_without_quiet_there_are_messages(cli):
    res = cli("kv-store", "create", "--name", "a")
    assert res.exit_code == 0 and "SUCCESS:" in res.stderr and "Using embedded backend" in res.stderr


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("flag", ["-y", "--auto-yes", "-i", "--non-interactive"])
def test_yes_flags_before_or_after(cli, eng, flag, position):
    s = eng.create_store("full")
    eng.put_item(s.id, "k", b"v")
    cmd = ["kv-store", "delete", "-s", s.id, "--all"]
    res = cli(*([flag, *cmd] if position == "before" else [*cmd, flag]))
    assert res.exit_code == 0, res
    assert eng.list_stores().items == []


@pytest.mark.parametrize(
    "args",
    [
        ["--profile", "dev", "kv-store", "create", "-n", "x"],
        ["kv-store", "create", "-n", "x", "--profile", "dev"],
        ["kv-store", "create", "-n", "x", "-o", "dev"],
        ["kv-store", "create", "-n", "x", "-odev"],
        ["kv-store", "create", "-n", "x", "--profile=dev"],
    ],
)
def test_profile_flag_before_or_after(cli, tmp_path, args):
    assert cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "dev")).exit_code == 0
    other = cli("profile", "create", "other", "--local", "--data-dir", str(tmp_path / "other"), "--default")
    assert other.exit_code == 0
    res = cli(*args)
    assert res.exit_code == 0, res
    assert f"Using embedded backend at {tmp_path / 'dev'} (via --profile dev)" in res.stderr
    assert (tmp_path / "dev" / "kvcli.db").exists() and not (tmp_path / "other").exists()


@pytest.mark.parametrize("args", [["--local", "kv-store", "list", "-v"], ["kv-store", "list", "--local", "-v"]])
def test_local_flag_before_or_after(cli, isolated, tmp_path, args):
    assert cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "dev")).exit_code == 0
    res = cli(*args)
    assert res.exit_code == 0, res
    assert f"Using embedded backend at {isolated['data']} (via --local)" in res.stderr


@pytest.mark.parametrize(
    "args",
    [["-t", "dev", "kv-store", "list"], ["kv-store", "list", "-t", "dev"], ["kv-store", "list", "--token=dev"]],
)
def test_token_flag_before_or_after(cli, tmp_path, args):
    # -t naming a local profile is refused: proof that -t reached the resolver wherever it was written
    assert cli("profile", "create", "dev", "--local").exit_code == 0
    _one_line(cli(*args), 2, "-t/--token 'dev'", "-o dev")


@pytest.mark.parametrize(
    "args",
    [
        ["--local", "kv-store", "list", "--endpoint", "http://127.0.0.1:1"],
        ["kv-store", "list", "--api", "http://127.0.0.1:1", "--local"],
    ],
)
def test_endpoint_flag_after_the_subcommand_is_seen(cli, args):
    _one_line(cli(*args), 2, "--local cannot be combined")


@pytest.mark.parametrize(
    "args",
    [
        ["-v", "-q", "kv-store", "list"],
        ["kv-store", "list", "--verbose", "--quiet"],
        ["-v", "kv-store", "list", "-q"],
        ["kv-store", "list", "-vq"],
    ],
)
def test_verbose_with_quiet_is_a_usage_error(cli, args):
    res = cli(*args)
    _one_line(res, 2, "--verbose", "--quiet")
    assert res.stdout == ""


def test_debug_mode_is_accepted_before_and_after(cli):
    assert cli("--debug-mode", "kv-store", "list", "-q").exit_code == 0
    assert cli("kv-store", "list", "--debug-mode", "-q").exit_code == 0


# ------------------------------------------------------------------------------------------------- announcement
def test_writes_announce_the_backend_reads_do_not(cli, isolated, eng):
    res = cli("kv-store", "create", "--name", "a", "--json")
    assert res.exit_code == 0
    assert res.stderr == f"Using embedded backend at {isolated['data']} (via default: nothing configured)\n"
    sid = res.json()["StoreID"]
    for args in (["kv-store", "list"], ["kv-store", "list", "--json"], ["kv-store", "describe", "-s", sid]):
        res = cli(*args)
        assert res.exit_code == 0 and res.stderr == "", res
    res = cli("kv-store", "delete", "-s", sid)
    assert res.stderr.startswith("Using embedded backend at ")


def test_verbose_announces_reads_too_and_quiet_silences_writes(cli, isolated):
    res = cli("-v", "kv-store", "list", "--json")
    assert res.exit_code == 0 and res.json()["Data"] == []
    assert res.stderr == f"Using embedded backend at {isolated['data']} (via default: nothing configured)\n"
    res = cli("kv-store", "create", "-n", "a", "-q", "--json")
    assert res.exit_code == 0 and res.stderr == ""


def test_announcement_names_the_precedence_step(cli, tmp_path, monkeypatch):
    assert cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "dev")).exit_code == 0
    res = cli("kv-store", "create", "-n", "a")
    assert f"Using embedded backend at {tmp_path / 'dev'} (via default profile dev)" in res.stderr
    assert cli("profile", "create", "env", "--local", "--data-dir", str(tmp_path / "env")).exit_code == 0
    monkeypatch.setenv("KVCLI_PROFILE", "env")
    res = cli("kv-store", "create", "-n", "a")
    assert f"Using embedded backend at {tmp_path / 'env'} (via KVCLI_PROFILE=env)" in res.stderr


# ---------------------------------------------------------------------------------------------------- version
def test_version(cli):
    res = cli("--version")
    assert (res.exit_code, res.stdout, res.stderr) == (0, f"kvcli {kvcli.__version__}\n", "")


def test_python_m_kvcli_version():
    proc = subprocess.run([sys.executable, "-m", "kvcli", "--version"], env=subprocess_env(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"kvcli {kvcli.__version__}\n" and proc.stderr == b""


def test_console_script_version():
    exe = shutil.which("kvcli")
    if exe is None:
        pytest.skip("the kvcli console script is not installed")
    proc = subprocess.run([exe, "--version"], env=subprocess_env(), capture_output=True)
    assert (proc.returncode, proc.stdout.decode()) == (0, f"kvcli {kvcli.__version__}\n")


# ------------------------------------------------------------------------------------------------ error boundary
@pytest.mark.parametrize(
    "args, needle",
    [
        (["nope"], "No such command 'nope'"),
        (["kv-stor"], "kv-store"),  # the suggestion, once
        (["--nope"], "--nope"),
        (["kv-store", "nope"], "'nope'"),
        (["kv-store", "list", "--nope"], "--nope"),
        (["kv-store", "create", "--name"], "--name"),
        (["kv-store", "delete", "-s", "x", "-r", "many"], "many"),
        (["profile", "create"], "NAME"),
    ],
)
def test_unknown_command_or_option_is_one_line_exit_2(cli, args, needle):
    res = cli(*args)
    line = _one_line(res, 2, needle)
    assert line.startswith("Error: ") and "(hint: see 'kvcli" in line
    assert res.stdout == ""
    assert line.count("Did you mean") <= 1


def test_no_subcommand_shows_help_and_exits_2(cli):
    res = cli("kv-store")
    assert res.exit_code == 2
    assert "create" in res.stdout and "delete" in res.stdout
    assert "Error:" not in res.stderr


def test_help_exits_0(cli):
    res = cli("--help")
    assert res.exit_code == 0 and "kv-store" in res.stdout and "--token" in res.stdout


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom\nwith a second line")


def test_internal_errors_show_no_traceback(cli, monkeypatch):
    monkeypatch.setattr(Engine, "list_stores", _boom)
    res = cli("kv-store", "list")
    line = _one_line(res, 1, "internal error", "RuntimeError: boom with a second line", "--debug-mode")
    assert line.startswith("Error: ")


def test_debug_mode_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setattr(Engine, "list_stores", _boom)
    res = cli("kv-store", "list", "--debug-mode")
    assert res.exit_code == 1
    assert "Traceback" in res.stderr and "RuntimeError: boom" in res.stderr


def test_expected_errors_show_no_traceback_even_in_debug_mode_output_order(cli):
    res = cli("kv-store", "describe", "-s", "nope", "--debug-mode")
    assert res.exit_code == 3
    assert res.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_interrupt_exits_130(cli, monkeypatch):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "list_stores", interrupted)
    res = cli("kv-store", "list")
    assert res.exit_code == 130 and "Traceback" not in res.stderr, res


def test_environment_errors_are_one_line_exit_1(cli, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    res = cli("kv-store", "list", env={"KVCLI_DATA_DIR": str(blocker)})
    _one_line(res, 1, str(blocker))


# ------------------------------------------------------------------------------- the Fastly API backend, served
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")
    from tests.contract.conftest import ServedBackend

    backend = ServedBackend(tmp_path_factory.mktemp("served"), token="served-token")
    yield backend
    backend.stop()


def test_token_and_endpoint_flags_reach_a_served_api(cli, served, isolated):
    res = cli("kv-store", "create", "-n", "over-http", "--json", "--api", served.url, "-t", served.token)
    assert res.exit_code == 0, res
    assert f"Using Fastly API at {served.url} (via --token)" in res.stderr
    sid = res.json()["StoreID"]
    res = cli("-t", served.token, "--endpoint", served.url, "kv-store", "describe", "--store-name", "over-http", "-j")
    assert res.exit_code == 0 and res.json()["StoreID"] == sid, res
    assert not (isolated["data"] / "kvcli.db").exists()  # nothing went to the embedded backend
    res = cli("kv-store", "delete", "-s", sid, "--api", served.url, "-t", served.token, "-q", "--json")
    assert res.exit_code == 0 and res.json() == {"id": sid, "deleted": True}, res


def test_token_naming_a_profile_and_the_stored_token_stays_home(cli, served):
    assert cli("profile", "create", "srv", "-t", served.token, "--api", served.url).exit_code == 0
    res = cli("kv-store", "list", "-t", "srv", "-v", "--json")
    assert res.exit_code == 0, res
    assert f"Using Fastly API at {served.url} (via --token srv (profile))" in res.stderr
    # srv is the default profile, but its token is not sent to an endpoint typed on the command line
    res = cli("kv-store", "list", "--api", served.url)
    assert res.exit_code == 5, res
    res = cli("kv-store", "list", "--api", served.url, env={"FASTLY_API_TOKEN": served.token})
    assert res.exit_code == 0, res
    res = cli("kv-store", "list", "-j")  # the default profile: the served API with the stored token
    assert res.exit_code == 0 and "Data" in res.json(), res
