"""`kvcli profile import`: the official Fastly CLI's stored tokens become kvcli profiles (fabricated config in a temp
HOME)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kvcli import config as cfgmod
from kvcli.fastly_config import official_config_path

OFFICIAL = """\
config_version = 6

[auth]
default = "work"

[auth.tokens]

[auth.tokens.work]
account_id = "CUST1"
api_token_expires_at = "2099-01-01T00:00:00Z"
email = "user@example.com"
token = "tok-work-123456"
type = "static"

[auth.tokens.stage]
token = "tok-stage-654321"
type = "static"

[auth.tokens.browser]
access_token = "acc"
refresh_token = "ref"
token = "tok-sso-session"
type = "sso"

[cli]
version = "16.1.0"

[fastly]
account_endpoint = "https://accounts.fastly.com"
api_endpoint = "https://api.fastly.com"
"""

LEGACY = """\
[profile.alpha]
default = true
email = "a@example.com"
token = "tok-alpha"

[profile.beta]
access_token = "acc"
refresh_token = "ref"
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def official(home: Path, text: str = OFFICIAL) -> Path:
    path = home / ".config" / "fastly" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def cfg_path(isolated) -> Path:
    return isolated["config"] / "config.toml"


def profiles(cfg_path: Path) -> dict[str, cfgmod.Profile]:
    return cfgmod.load(cfg_path).profiles if cfg_path.exists() else {}


def test_the_official_path_follows_the_official_cli(tmp_path):
    home = str(tmp_path)
    assert official_config_path({"HOME": home}, "linux") == tmp_path / ".config" / "fastly" / "config.toml"
    assert official_config_path({"HOME": home, "XDG_CONFIG_HOME": "/x"}, "linux") == Path("/x/fastly/config.toml")
    assert official_config_path({"HOME": home}, "darwin") == (
        tmp_path / "Library" / "Application Support" / "fastly" / "config.toml"
    )


def test_import_every_token_keeps_them_private_and_takes_the_default(cli, home, cfg_path):
    official(home)
    res = cli("profile", "import")
    assert res.exit_code == 0, res
    got = profiles(cfg_path)
    assert sorted(got) == ["stage", "work"]  # the SSO session token is skipped
    assert got["work"].token == "tok-work-123456" and got["stage"].token == "tok-stage-654321"
    assert all(p.type == "fastly" and p.endpoint is None for p in got.values())
    assert cfgmod.load(cfg_path).default_profile == "work"  # kvcli had no profile: the official default comes along
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600
    assert "Skipped 'browser'" in res.stderr and "SSO" in res.stderr
    assert "tok-" not in res.stdout + res.stderr  # tokens are never printed
    listed = cli("-o", "work", "profile", "token", "work")
    assert listed.stdout == "tok-work-123456\n"


def test_import_one_by_name(cli, home, cfg_path):
    official(home)
    res = cli("profile", "import", "stage")
    assert res.exit_code == 0, res
    assert sorted(profiles(cfg_path)) == ["stage"]
    assert cfgmod.load(cfg_path).default_profile == "stage"


def test_import_an_unknown_name_lists_the_stored_ones(cli, home, cfg_path):
    official(home)
    res = cli("profile", "import", "nope")
    assert res.exit_code == 2 and "browser, stage, work" in res.stderr, res
    assert not cfg_path.exists()


def test_import_an_sso_token_by_name_is_refused_with_a_way_out(cli, home, cfg_path):
    official(home)
    res = cli("profile", "import", "browser")
    assert res.exit_code == 2 and "SSO" in res.stderr and "kvcli profile create browser" in res.stderr, res
    assert not cfg_path.exists()


def test_dry_run_lists_what_it_would_add_and_changes_nothing(cli, home, cfg_path):
    official(home)
    assert cli("-q", "profile", "create", "stage", "--local").exit_code == 0
    before = cfg_path.read_bytes()
    res = cli("profile", "import", "--dry-run")
    assert res.exit_code == 0, res
    lines = res.stdout.splitlines()
    assert lines[0].startswith("skip     browser: an SSO session token")
    assert lines[1].startswith("conflict stage")
    assert lines[2] == "add      work"
    assert "nothing changed" in res.stderr and "tok-" not in res.stdout + res.stderr
    assert cfg_path.read_bytes() == before
    res = cli("profile", "import", "--dry-run", "--overwrite")
    assert "replace  stage" in res.stdout.splitlines()


def test_an_existing_profile_is_never_replaced_without_overwrite(cli, home, cfg_path):
    official(home)
    assert cli("-q", "profile", "create", "work", "--token", "mine").exit_code == 0
    before = cfg_path.read_bytes()
    res = cli("profile", "import")
    assert res.exit_code == 2 and "work" in res.stderr and "--overwrite" in res.stderr, res
    assert res.stderr.count("\n") == 1 and cfg_path.read_bytes() == before  # nothing imported, not even 'stage'
    res = cli("profile", "import", "--overwrite")
    assert res.exit_code == 0, res
    got = profiles(cfg_path)
    assert got["work"].token == "tok-work-123456" and "stage" in got
    assert cfgmod.load(cfg_path).default_profile == "work"  # it was kvcli's default already


def test_into_a_config_with_profiles_the_default_is_not_moved(cli, home, cfg_path):
    official(home)
    assert cli("-q", "profile", "create", "dev", "--local").exit_code == 0
    res = cli("profile", "import")
    assert res.exit_code == 0, res
    assert cfgmod.load(cfg_path).default_profile == "dev"
    assert "kvcli profile switch work" in res.stderr


def test_legacy_profiles_and_a_custom_endpoint(cli, home, cfg_path):
    official(home, LEGACY + '\n[fastly]\napi_endpoint = "http://127.0.0.1:7676"\n')
    res = cli("profile", "import")
    assert res.exit_code == 0, res
    got = profiles(cfg_path)
    assert sorted(got) == ["alpha"] and got["alpha"].token == "tok-alpha"
    assert got["alpha"].endpoint == "http://127.0.0.1:7676"
    assert "Skipped 'beta'" in res.stderr


def test_xdg_config_home_and_from(cli, home, cfg_path, tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    (xdg / "fastly").mkdir(parents=True)
    (xdg / "fastly" / "config.toml").write_text(OFFICIAL)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert cli("-q", "profile", "import", "work").exit_code == 0
    other = tmp_path / "elsewhere.toml"
    other.write_text(LEGACY)
    assert cli("-q", "profile", "import", "--from", str(other)).exit_code == 0
    assert sorted(profiles(cfg_path)) == ["alpha", "work"]


@pytest.mark.parametrize(("content", "needle"), [(None, "no official Fastly CLI config"), ("[[[", "not valid TOML")])
def test_a_missing_or_broken_official_config_is_one_line(cli, home, cfg_path, content, needle):
    if content is not None:
        official(home, content)
    res = cli("profile", "import")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and needle in res.stderr, res
    assert "(hint: " in res.stderr and not cfg_path.exists()


def test_a_missing_token_mentions_profile_import(cli):
    res = cli("--endpoint", "https://api.example.test", "kv-store", "list")
    assert res.exit_code == 1 and "kvcli profile import" in res.stderr, res
