"""kvcli.config: the config file (atomic, 0600, corrupt files reported and kept) and backend precedence."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kvcli import config as cfgmod
from kvcli.api.errors import ConfigError, UsageError
from kvcli.cli.exits import exit_code_for
from kvcli.config import DEFAULT_ENDPOINT, Config, Profile, load, resolve_target, save


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def path(isolated) -> Path:
    return isolated["config"] / "config.toml"


def _cfg(path: Path, default: str | None = None) -> Config:
    cfg = Config(path=path, default_profile=default)
    cfg.profiles = {
        "work": Profile("work", "fastly", token="tok-work"),
        "stage": Profile("stage", "fastly", token="tok-stage", endpoint="http://127.0.0.1:9"),
        "bare": Profile("bare", "fastly"),
        "dev": Profile("dev", "local", data_dir="/srv/dev-data"),
        "plain": Profile("plain", "local"),
    }
    return cfg


# ------------------------------------------------------------------------------------------------- file handling
def test_locations_come_from_the_environment(isolated):
    assert cfgmod.config_path() == isolated["config"] / "config.toml"
    assert cfgmod.data_dir() == isolated["data"]


def test_default_locations_are_platformdirs_for_kvcli():
    import platformdirs

    assert cfgmod.config_dir({}) == Path(platformdirs.user_config_dir("kvcli"))
    assert cfgmod.data_dir({}) == Path(platformdirs.user_data_dir("kvcli"))
    assert cfgmod.data_dir({"KVCLI_DATA_DIR": ""}) == Path(platformdirs.user_data_dir("kvcli"))


def test_missing_file_is_an_empty_config(path):
    cfg = load(path)
    assert cfg.profiles == {} and cfg.default_profile is None
    assert not path.exists()  # reading never creates the file


def test_save_and_load_round_trip(path):
    cfg = _cfg(path, default="work")
    save(cfg)
    again = load(path)
    assert again.default_profile == "work"
    assert again.profiles == cfg.profiles


def test_saved_file_has_mode_0600_even_if_it_was_looser_before(path):
    path.parent.mkdir(parents=True)
    path.write_text("")
    os.chmod(path, 0o644)
    save(_cfg(path))
    assert _mode(path) == 0o600


def test_save_creates_a_private_config_directory(tmp_path):
    path = tmp_path / "new" / "cfg" / "config.toml"
    save(_cfg(path))
    assert _mode(path) == 0o600
    assert _mode(path.parent) & 0o077 == 0


def test_save_writes_a_temp_file_fsyncs_and_renames(path, monkeypatch):
    save(_cfg(path))
    before = path.read_bytes()
    synced: list[int] = []
    renamed: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])

    def replace(src, dst):
        renamed.append((str(src), str(dst)))
        assert synced, "rename before fsync"
        assert Path(dst).read_bytes() == before  # the old file is intact until the rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    cfg = load(path)
    cfg.default_profile = "dev"
    save(cfg)
    assert len(renamed) == 1
    src, dst = renamed[0]
    assert Path(dst) == path and Path(src).parent == path.parent and src != dst
    assert load(path).default_profile == "dev"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(path, monkeypatch):
    save(_cfg(path, default="work"))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    cfg = load(path)
    cfg.default_profile = "dev"
    with pytest.raises(OSError):
        save(cfg)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_tokens_are_written_only_for_fastly_profiles(path):
    save(_cfg(path))
    text = path.read_text()
    assert 'token = "tok-work"' in text
    assert "[profiles.dev]" in text and 'data_dir = "/srv/dev-data"' in text


CORRUPT = 'default_profile = "work"\n[profiles.work]\ntoken = = "x"\n'


def test_corrupt_toml_names_the_file_and_the_line(path):
    path.parent.mkdir(parents=True)
    path.write_text(CORRUPT)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(path) in info.value.message
    assert "line 3" in info.value.message
    assert exit_code_for(info.value) == 1
    assert path.read_text() == CORRUPT


def test_corrupt_config_is_never_replaced_by_a_command(path, cli):
    path.parent.mkdir(parents=True)
    path.write_text(CORRUPT)
    os.chmod(path, 0o600)
    before = path.stat()
    for args in (["profile", "create", "x", "--token", "t"], ["profile", "switch", "work"], ["kv-store", "list"]):
        res = cli(*args)
        assert res.exit_code == 1, res
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "line 3" in lines[0], res
        assert "Traceback" not in res.stderr
    assert path.read_text() == CORRUPT
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_non_utf8_config_is_reported(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b'default_profile = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load(path)


def test_unknown_profile_type_is_reported(path):
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.odd]\ntype = "ftp"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "'odd'" in info.value.message and "'ftp'" in info.value.message and str(path) in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "default_profile = 3\n",
        "profiles = 1\n",
        "[profiles]\nwork = 1\n",
        "[profiles.work]\ntoken = 5\n",
        "[profiles.dev]\ntype = 'local'\ndata_dir = ['a']\n",
    ],
)
def test_wrongly_typed_values_are_reported(path, text):
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(path) in info.value.message


def test_profile_type_defaults_to_fastly(path):
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.w]\ntoken = "t"\n')
    assert load(path).profiles["w"] == Profile("w", "fastly", token="t")


# ------------------------------------------------------------------------------------------------- precedence
ENV_ALL = {
    "FASTLY_API_TOKEN": "tok-env",
    "FASTLY_API_ENDPOINT": "http://127.0.0.1:7",
    "KVCLI_PROFILE": "dev",
    "KVCLI_DATA_DIR": "/kv/data",
}


def test_step1_local_beats_everything(path):
    t = resolve_target(local=True, profile="work", env=ENV_ALL, cfg=_cfg(path, default="work"))
    assert (t.kind, t.data_dir, t.source) == ("local", Path("/kv/data"), "--local")


def test_step1_local_with_a_token_or_endpoint_is_a_usage_error(path):
    for kw in ({"token": "t"}, {"endpoint": "http://127.0.0.1:1"}):
        with pytest.raises(UsageError):
            resolve_target(local=True, env={}, cfg=_cfg(path), **kw)


def test_step2_raw_token_beats_profile_env_and_default(path):
    t = resolve_target(token="raw-token", profile="dev", env=ENV_ALL, cfg=_cfg(path, default="dev"))
    assert t.kind == "http" and t.token == "raw-token"
    assert t.endpoint == "http://127.0.0.1:7"  # endpoint from FASTLY_API_ENDPOINT when no flag gives one
    t = resolve_target(token="raw-token", env={}, cfg=_cfg(path))
    assert t.endpoint == DEFAULT_ENDPOINT
    t = resolve_target(token="raw-token", endpoint="http://127.0.0.1:8", env=ENV_ALL, cfg=_cfg(path))
    assert (t.endpoint, t.token) == ("http://127.0.0.1:8", "raw-token")
    assert "raw-token" not in t.describe() and "raw-token" not in t.source


def test_step2_token_naming_a_stored_profile_uses_its_token_and_endpoint(path):
    cfg = _cfg(path, default="dev")
    t = resolve_target(token="work", env=ENV_ALL, cfg=cfg)
    assert (t.kind, t.token, t.endpoint, t.profile) == ("http", "tok-work", DEFAULT_ENDPOINT, "work")
    t = resolve_target(token="stage", env=ENV_ALL, cfg=cfg)
    assert (t.token, t.endpoint) == ("tok-stage", "http://127.0.0.1:9")
    t = resolve_target(token="stage", endpoint="http://127.0.0.1:8", env={}, cfg=cfg)
    assert (t.token, t.endpoint) == ("tok-stage", "http://127.0.0.1:8")


@pytest.mark.parametrize("name", ["dev", "bare"])
def test_step2_token_naming_a_profile_without_a_token_is_an_error(path, name):
    with pytest.raises(UsageError) as info:
        resolve_target(token=name, env={}, cfg=_cfg(path))
    assert f"-o {name}" in info.value.hint


def test_step2_endpoint_alone_takes_the_token_from_the_environment_only(path):
    cfg = _cfg(path, default="work")
    t = resolve_target(endpoint="http://127.0.0.1:8", env={"FASTLY_API_TOKEN": "tok-env"}, cfg=cfg)
    assert (t.kind, t.endpoint, t.token, t.source) == ("http", "http://127.0.0.1:8", "tok-env", "--endpoint")
    # a stored token is never sent to an endpoint typed on the command line
    t = resolve_target(endpoint="http://127.0.0.1:8", env={}, cfg=cfg)
    assert t.token is None
    t = resolve_target(endpoint="http://127.0.0.1:8", profile="work", env={}, cfg=cfg)
    assert t.token is None


def test_step3_profile_beats_env_kvcli_profile_and_default(path):
    cfg = _cfg(path, default="work")
    t = resolve_target(profile="stage", env=ENV_ALL, cfg=cfg)
    assert (t.kind, t.token, t.endpoint, t.profile) == ("http", "tok-stage", "http://127.0.0.1:9", "stage")
    t = resolve_target(profile="dev", env=ENV_ALL, cfg=cfg)
    assert (t.kind, t.data_dir) == ("local", Path("/srv/dev-data"))
    t = resolve_target(profile="plain", env=ENV_ALL, cfg=cfg)
    assert (t.kind, t.data_dir) == ("local", Path("/kv/data"))  # a local profile without a path: default dir


def test_step3_unknown_profile_is_an_error_listing_the_known_ones(path):
    with pytest.raises(ConfigError) as info:
        resolve_target(profile="nope", env={}, cfg=_cfg(path))
    assert "'nope'" in info.value.message and "work" in info.value.message


def test_step4_environment_token_and_endpoint(path):
    cfg = _cfg(path, default="dev")
    t = resolve_target(env=ENV_ALL, cfg=cfg)
    assert (t.kind, t.token, t.endpoint, t.source) == ("http", "tok-env", "http://127.0.0.1:7", "FASTLY_API_TOKEN")
    t = resolve_target(env={"FASTLY_API_TOKEN": "tok-env", "KVCLI_PROFILE": "dev"}, cfg=cfg)
    assert (t.token, t.endpoint) == ("tok-env", DEFAULT_ENDPOINT)
    t = resolve_target(env={"FASTLY_API_ENDPOINT": "http://127.0.0.1:7", "KVCLI_PROFILE": "dev"}, cfg=cfg)
    assert (t.kind, t.token, t.endpoint, t.source) == ("http", None, "http://127.0.0.1:7", "FASTLY_API_ENDPOINT")


def test_step4_empty_environment_values_count_as_unset(path):
    t = resolve_target(env={"FASTLY_API_TOKEN": "", "FASTLY_API_ENDPOINT": "", "KVCLI_PROFILE": "dev"}, cfg=_cfg(path))
    assert (t.kind, t.profile) == ("local", "dev")


def test_step5_kvcli_profile_beats_the_default(path):
    t = resolve_target(env={"KVCLI_PROFILE": "stage"}, cfg=_cfg(path, default="work"))
    assert (t.profile, t.token, t.source) == ("stage", "tok-stage", "KVCLI_PROFILE=stage")
    with pytest.raises(ConfigError, match="'ghost'"):
        resolve_target(env={"KVCLI_PROFILE": "ghost"}, cfg=_cfg(path, default="work"))


def test_step6_default_profile(path):
    t = resolve_target(env={}, cfg=_cfg(path, default="work"))
    assert (t.kind, t.profile, t.token, t.source) == ("http", "work", "tok-work", "default profile work")
    t = resolve_target(env={"KVCLI_DATA_DIR": "/kv/data"}, cfg=_cfg(path, default="dev"))
    assert (t.kind, t.data_dir) == ("local", Path("/srv/dev-data"))


def test_step6_a_dangling_default_profile_is_an_error_not_a_silent_fallback(path):
    path.parent.mkdir(parents=True)
    path.write_text('default_profile = "gone"\n[profiles.work]\ntoken = "t"\n')
    with pytest.raises(ConfigError) as info:
        resolve_target(env={"KVCLI_CONFIG_DIR": str(path.parent)})
    assert "'gone'" in info.value.message and str(path) in info.value.message


def test_step7_nothing_configured_is_the_embedded_backend(path):
    t = resolve_target(env={"KVCLI_CONFIG_DIR": str(path.parent), "KVCLI_DATA_DIR": "/kv/data"})
    assert (t.kind, t.data_dir, t.profile) == ("local", Path("/kv/data"), None)
    save(_cfg(path))  # profiles but no default: still the embedded backend
    t = resolve_target(env={"KVCLI_CONFIG_DIR": str(path.parent), "KVCLI_DATA_DIR": "/kv/data"})
    assert (t.kind, t.data_dir) == ("local", Path("/kv/data"))


def test_resolution_reads_the_config_from_the_environment_dirs(path, isolated):
    save(_cfg(path, default="stage"))
    t = resolve_target()
    assert (t.profile, t.token) == ("stage", "tok-stage")


def test_the_config_is_not_read_when_a_flag_or_variable_decides(path):
    path.parent.mkdir(parents=True)
    path.write_text(CORRUPT)
    env = {"KVCLI_CONFIG_DIR": str(path.parent)}
    assert resolve_target(local=True, env=env).kind == "local"
    assert resolve_target(endpoint="http://127.0.0.1:8", env=env).kind == "http"
    assert resolve_target(env={**env, "FASTLY_API_TOKEN": "t"}).kind == "http"
    with pytest.raises(ConfigError):  # a profile name, or the default, needs the file
        resolve_target(env=env)


def test_profile_paths_with_tilde_are_expanded(path):
    cfg = Config(path=path, profiles={"home": Profile("home", "local", data_dir="~/kvdata")})
    t = resolve_target(profile="home", env={}, cfg=cfg)
    assert t.data_dir == Path("~/kvdata").expanduser()


@pytest.mark.parametrize("xdg", [None, "", "   ", "/srv/xdg-home"])
def test_default_dirs_match_platformdirs(monkeypatch, xdg):
    """The Linux shortcut for the default directories gives exactly platformdirs' answer."""
    import platformdirs

    from kvcli import config as cfgmod

    monkeypatch.delenv("KVCLI_DATA_DIR", raising=False)
    monkeypatch.delenv("KVCLI_CONFIG_DIR", raising=False)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        if xdg is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, xdg)
    assert cfgmod.data_dir() == Path(platformdirs.user_data_dir("kvcli"))
    assert cfgmod.config_dir() == Path(platformdirs.user_config_dir("kvcli"))
