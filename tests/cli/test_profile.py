"""`kvcli profile …`: create, list, switch, update, token, delete; tokens never shown; the file stays 0600."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kvcli import config as cfgmod
from tests.conftest import subprocess_env

TOKEN = "tok-very-secret-123456"
PROFILE_KEYS = ["name", "type", "default", "endpoint", "data_dir", "has_token"]


@pytest.fixture
def cfg_path(isolated) -> Path:
    return isolated["config"] / "config.toml"


def _cfg(cfg_path: Path) -> cfgmod.Config:
    return cfgmod.load(cfg_path)


def _ok(res):
    assert res.exit_code == 0, res
    return res


def _fails(res, code: int, *needles: str) -> str:
    assert res.exit_code == code, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in res.stderr, res
    for n in needles:
        assert n in lines[0], res
    return lines[0]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# ------------------------------------------------------------------------------------------------------ create
def test_first_profile_becomes_the_default(cli, cfg_path):
    res = _ok(cli("profile", "create", "work", "--token", TOKEN))
    assert res.stdout == "" and "SUCCESS: Created profile 'work' (fastly) as default" in res.stderr
    assert TOKEN not in res.stderr
    cfg = _cfg(cfg_path)
    assert cfg.default_profile == "work"
    assert cfg.profiles["work"] == cfgmod.Profile("work", "fastly", token=TOKEN)
    assert _mode(cfg_path) == 0o600


def test_later_profiles_become_default_only_with_default_flag(cli, cfg_path):
    _ok(cli("profile", "create", "work", "--token", TOKEN))
    _ok(cli("profile", "create", "other", "--token", "t2"))
    assert _cfg(cfg_path).default_profile == "work"
    _ok(cli("profile", "create", "third", "--token", "t3", "--default"))
    assert _cfg(cfg_path).default_profile == "third"


def test_create_with_endpoint_and_short_flags(cli, cfg_path):
    # -t and --api belong to `profile create` here; they are not hoisted as global flags
    _ok(cli("profile", "create", "stage", "-t", TOKEN, "--api", "http://127.0.0.1:7676"))
    assert _cfg(cfg_path).profiles["stage"] == cfgmod.Profile(
        "stage", "fastly", token=TOKEN, endpoint="http://127.0.0.1:7676"
    )


def test_create_local_profile_stores_an_absolute_data_dir(cli, cfg_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _ok(cli("profile", "create", "dev", "--local", "--data-dir", "kvdata"))
    assert _cfg(cfg_path).profiles["dev"] == cfgmod.Profile("dev", "local", data_dir=str(tmp_path / "kvdata"))
    _ok(cli("profile", "create", "dev2", "--local"))
    assert _cfg(cfg_path).profiles["dev2"] == cfgmod.Profile("dev2", "local")


def test_a_local_profile_is_used_by_store_commands(cli, tmp_path):
    _ok(cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "devdata")))
    res = _ok(cli("kv-store", "create", "--name", "in-dev"))
    assert f"Using embedded backend at {tmp_path / 'devdata'} (via default profile dev)" in res.stderr
    assert (tmp_path / "devdata" / "kvcli.db").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["x", "--local", "--token", "t"], "--local"),
        (["x", "--local", "--endpoint", "http://127.0.0.1:1"], "--local"),
        (["x", "--data-dir", "d"], "--data-dir"),
        (["x", "--endpoint", "api.fastly.com"], "endpoint"),
        (["x", "--endpoint", "ftp://host"], "endpoint"),
        (["", "--token", "t"], "profile name"),
        ([" padded", "--token", "t"], "profile name"),
        (["bad\tname", "--token", "t"], "profile name"),
    ],
)
def test_create_usage_errors(cli, cfg_path, args, needle):
    _fails(cli("profile", "create", *args), 2, needle)
    assert not cfg_path.exists()


def test_create_existing_name_fails(cli, cfg_path):
    _ok(cli("profile", "create", "work", "--token", TOKEN))
    before = cfg_path.read_bytes()
    _fails(cli("profile", "create", "work", "--token", "other"), 2, "'work'", "already exists")
    assert cfg_path.read_bytes() == before


# -------------------------------------------------------------------------------------------------------- list
def _three(cli, tmp_path):
    _ok(cli("profile", "create", "work", "--token", TOKEN))
    _ok(cli("profile", "create", "stage", "--token", TOKEN + "-stage", "--endpoint", "http://127.0.0.1:7676"))
    _ok(cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "dev")))


def test_list_empty(cli):
    res = _ok(cli("profile", "list"))
    assert res.stdout == "" and "No profiles" in res.stderr
    res = _ok(cli("profile", "list", "--json"))
    assert res.json() == [] and res.stderr == ""


def test_list_json_shape_and_no_tokens(cli, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "list", "--json"))
    assert res.stderr == ""
    assert TOKEN not in res.stdout
    rows = res.json()
    assert [list(r) for r in rows] == [PROFILE_KEYS] * 3
    assert rows == [
        {"name": "dev", "type": "local", "default": False, "endpoint": None, "data_dir": str(tmp_path / "dev"),
         "has_token": False},
        {"name": "stage", "type": "fastly", "default": False, "endpoint": "http://127.0.0.1:7676", "data_dir": None,
         "has_token": True},
        {"name": "work", "type": "fastly", "default": True, "endpoint": "https://api.fastly.com", "data_dir": None,
         "has_token": True},
    ]


def test_list_table_and_no_tokens(cli, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "list"))
    assert TOKEN not in res.stdout and TOKEN not in res.stderr
    rows = {line.split("\t")[0]: line for line in res.stdout.splitlines()}  # piped: plain, tab-separated
    assert set(rows) == {"dev", "stage", "work"}
    assert "yes" in rows["work"] and "yes" not in rows["stage"]
    assert "https://api.fastly.com" in rows["work"] and "set" in rows["work"]
    assert "http://127.0.0.1:7676" in rows["stage"]
    assert "local" in rows["dev"]


def test_tokens_never_appear_in_any_listing_even_verbose(cli, tmp_path):
    _three(cli, tmp_path)
    for args in (["profile", "list"], ["profile", "list", "--json"], ["-v", "profile", "list", "-j"]):
        res = _ok(cli(*args))
        assert TOKEN not in res.stdout + res.stderr, args


# ------------------------------------------------------------------------------------------------------ switch
def test_switch(cli, cfg_path, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "switch", "dev"))
    assert "SUCCESS: Default profile is now 'dev'" in res.stderr
    assert _cfg(cfg_path).default_profile == "dev"
    assert [r["name"] for r in _ok(cli("profile", "list", "--json")).json() if r["default"]] == ["dev"]
    assert _mode(cfg_path) == 0o600


def test_switch_to_unknown_profile_fails(cli, cfg_path, tmp_path):
    _three(cli, tmp_path)
    _fails(cli("profile", "switch", "nope"), 1, "'nope'")
    assert _cfg(cfg_path).default_profile == "work"


# ------------------------------------------------------------------------------------------------------ update
def test_update_token_endpoint_and_default(cli, cfg_path, tmp_path):
    _three(cli, tmp_path)
    _ok(cli("profile", "update", "stage", "--token", "new-token"))
    assert _cfg(cfg_path).profiles["stage"].token == "new-token"
    _ok(cli("profile", "update", "stage", "--endpoint", "https://api.example.test", "--default"))
    cfg = _cfg(cfg_path)
    assert cfg.profiles["stage"].endpoint == "https://api.example.test" and cfg.default_profile == "stage"
    _ok(cli("profile", "update", "dev", "--data-dir", str(tmp_path / "elsewhere")))
    assert _cfg(cfg_path).profiles["dev"].data_dir == str(tmp_path / "elsewhere")
    assert _mode(cfg_path) == 0o600


@pytest.mark.parametrize(
    "args, code",
    [
        (["dev", "--token", "t"], 2),
        (["work", "--data-dir", "/x"], 2),
        (["work"], 2),
        (["work", "--endpoint", "nope"], 2),
        (["ghost", "--token", "t"], 1),
    ],
)
def test_update_errors(cli, cfg_path, tmp_path, args, code):
    _three(cli, tmp_path)
    before = cfg_path.read_bytes()
    _fails(cli("profile", "update", *args), code)
    assert cfg_path.read_bytes() == before


# ------------------------------------------------------------------------------------------------------- token
def test_token_prints_to_a_pipe(cli, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "token", "stage"))
    assert res.stdout == TOKEN + "-stage\n" and res.stderr == ""
    res = _ok(cli("profile", "token"))  # the default profile
    assert res.stdout == TOKEN + "\n"


def test_token_refuses_a_terminal_unless_revealed(cli, tmp_path, monkeypatch):
    import kvcli.cli.profile as profile_mod

    _three(cli, tmp_path)
    monkeypatch.setattr(profile_mod, "stdout_is_tty", lambda: True)
    res = cli("profile", "token", "work")
    _fails(res, 2, "terminal", "--reveal")
    assert TOKEN not in res.stdout + res.stderr
    res = _ok(cli("profile", "token", "work", "--reveal"))
    assert res.stdout == TOKEN + "\n"


def test_token_refuses_a_real_terminal(isolated, tmp_path):
    """The real isatty check, with stdout on a pseudo-terminal in a subprocess."""
    pty = pytest.importorskip("pty")
    env = subprocess_env()
    run = [sys.executable, "-m", "kvcli"]
    subprocess.run([*run, "profile", "create", "work", "--token", TOKEN], env=env, check=True, capture_output=True)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([*run, "profile", "token", "work"], env=env, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        slave = -1
        shown = b""
        os.set_blocking(master, False)
        try:
            shown = os.read(master, 4096)
        except OSError:
            pass
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 2
    assert TOKEN.encode() not in shown
    assert b"refusing to print a token to a terminal" in proc.stderr
    piped = subprocess.run([*run, "profile", "token", "work"], env=env, capture_output=True)
    assert (piped.returncode, piped.stdout) == (0, (TOKEN + "\n").encode())


@pytest.mark.parametrize("name, code, needle", [("dev", 2, "has no token"), ("ghost", 1, "'ghost'")])
def test_token_errors(cli, tmp_path, name, code, needle):
    _three(cli, tmp_path)
    res = cli("profile", "token", name)
    _fails(res, code, needle)
    assert res.stdout == ""


def test_token_without_name_or_default_fails(cli):
    _ok(cli("profile", "create", "w", "--token", "t"))
    _ok(cli("profile", "delete", "w"))
    res = cli("profile", "token")
    _fails(res, 1, "no default profile")
    assert res.stdout == ""


# ------------------------------------------------------------------------------------------------------ delete
def test_delete(cli, cfg_path, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "delete", "stage"))
    assert "SUCCESS: Deleted profile 'stage'" in res.stderr
    cfg = _cfg(cfg_path)
    assert sorted(cfg.profiles) == ["dev", "work"] and cfg.default_profile == "work"
    assert TOKEN + "-stage" not in cfg_path.read_text()
    res = _ok(cli("profile", "delete", "work"))
    assert "no default profile" in res.stderr
    cfg = _cfg(cfg_path)
    assert sorted(cfg.profiles) == ["dev"] and cfg.default_profile is None
    assert "default_profile" not in cfg_path.read_text()
    assert _mode(cfg_path) == 0o600


def test_delete_unknown_fails(cli, cfg_path, tmp_path):
    _three(cli, tmp_path)
    before = cfg_path.read_bytes()
    _fails(cli("profile", "delete", "ghost"), 1, "'ghost'")
    assert cfg_path.read_bytes() == before


@pytest.mark.parametrize("cmd", ["create", "list", "switch", "update", "token", "delete"])
def test_every_profile_command_has_help_with_an_example(cli, cmd):
    res = _ok(cli("profile", cmd, "--help"))
    assert "Example:" in res.stdout


def test_profile_list_json_is_valid_with_quiet(cli, tmp_path):
    _three(cli, tmp_path)
    res = _ok(cli("profile", "list", "--json", "-q"))
    assert res.stderr == "" and isinstance(json.loads(res.stdout), list)


def test_an_empty_token_is_refused_not_saved(cli, isolated):
    """`--token "$UNSET_VAR"` must not silently create a profile without a token."""
    res = cli("profile", "create", "work", "--token", "")
    assert res.exit_code == 2, res
    assert "--token is empty" in res.stderr and "hint:" in res.stderr
    assert not (isolated["config"] / "config.toml").exists()
    assert cli("profile", "create", "work", "--token", "t0k3n-value").exit_code == 0
    res = cli("profile", "update", "work", "--token", "  ")
    assert res.exit_code == 2, res
    assert cli("profile", "token", "work").stdout == "t0k3n-value\n"
