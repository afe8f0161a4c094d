"""Reading kvcli's config file: where it is, its profiles (:class:`Profile`, :class:`Config`), :func:`load`.

The file's format and the backend precedence are described in :mod:`kvcli.config`; writing is
:mod:`kvcli.config_write`.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from kvcli.api.errors import ConfigError
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

DEFAULT_ENDPOINT = "https://api.fastly.com"
CONFIG_FILENAME = "config.toml"
PROFILE_TYPES = ("fastly", "local")


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("KVCLI_CONFIG_DIR"):
        return Path(env["KVCLI_CONFIG_DIR"]).expanduser()
    return _user_dir("config", env)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("KVCLI_DATA_DIR"):
        return Path(env["KVCLI_DATA_DIR"]).expanduser()
    return _user_dir("data", env)


_XDG = {"data": ("XDG_DATA_HOME", "~/.local/share"), "config": ("XDG_CONFIG_HOME", "~/.config")}


def _user_dir(kind: str, env: Mapping[str, str]) -> Path:
    """platformdirs' user data or config directory for "kvcli".

    On Linux the XDG rule platformdirs applies there is applied directly: importing platformdirs costs ~20 ms, more than
    the rest of an embedded `kv-store-entry get`. tests/config/test_config.py checks that both give the same path.
    """

    if sys.platform.startswith("linux") and "ANDROID_DATA" not in env:
        var, default = _XDG[kind]
        raw = env.get(var, "")
        return Path(raw if raw.strip() else os.path.expanduser(default)) / "kvcli"
    import platformdirs

    return Path(platformdirs.user_data_dir("kvcli") if kind == "data" else platformdirs.user_config_dir("kvcli"))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / CONFIG_FILENAME


def _shown_endpoint(endpoint: str) -> str:
    """An endpoint as kvcli shows it: without the credentials a URL may carry (they stay in the config file)."""
    from kvcli.redact import redact_url

    return redact_url(endpoint)


@dataclass
class Profile:
    name: str
    type: Literal["fastly", "local"] = "fastly"
    token: str | None = None
    endpoint: str | None = None
    data_dir: str | None = None

    def to_toml(self) -> dict:
        out: dict = {"type": self.type}
        if self.type == "fastly":
            if self.token:
                out["token"] = self.token
            if self.endpoint:
                out["endpoint"] = self.endpoint
        elif self.data_dir:
            out["data_dir"] = self.data_dir
        return out

    def public(self, is_default: bool) -> dict:
        """What ``profile list`` shows: never the token."""
        return {
            "name": self.name,
            "type": self.type,
            "default": is_default,
            "endpoint": _shown_endpoint(self.endpoint or DEFAULT_ENDPOINT) if self.type == "fastly" else None,
            "data_dir": self.data_dir if self.type == "local" else None,
            "has_token": bool(self.token),
        }


@dataclass
class Config:
    path: Path
    default_profile: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(
                f"profile {name!r} does not exist (profiles: {known})",
                "create it with 'kvcli profile create NAME' or see 'kvcli profile list'",
            ) from None


def world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def load(path: Path | None = None) -> Config:
    """Read the config; a missing file is an empty config, a corrupt one a ConfigError naming file and line."""
    path = config_path() if path is None else path
    warn_if_shared_dir(path.parent)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}", "check its permissions") from None
    import tomllib  # only when there is a file: start-up without a config stays cheap

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text", "fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}", "fix the file by hand; kvcli will not overwrite it"
        ) from None
    return _parse(path, data)


def _parse(path: Path, data: dict) -> Config:
    cfg = Config(path=path)
    default = data.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"config file {path}: default_profile must be a string", "fix the file by hand")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"config file {path}: [profiles] must be a table", "fix the file by hand")
    for name, body in profiles.items():
        if not isinstance(body, dict):
            raise ConfigError(f"config file {path}: profile {name!r} must be a table", "fix the file by hand")
        ptype = body.get("type", "fastly")
        if ptype not in PROFILE_TYPES:
            raise ConfigError(
                f"config file {path}: profile {name!r} has unknown type {ptype!r}", "use type = 'fastly' or 'local'"
            )
        for k in ("token", "endpoint", "data_dir"):
            if k in body and not isinstance(body[k], str):
                raise ConfigError(f"config file {path}: profile {name!r}: {k} must be a string", "fix the file by hand")
        cfg.profiles[name] = Profile(
            name=name,
            type=ptype,
            token=body.get("token"),
            endpoint=body.get("endpoint"),
            data_dir=body.get("data_dir"),
        )
    cfg.default_profile = default or None  # a dangling name is reported when it is used (resolve_target)
    return cfg


_warned_dirs: set[str] = set()


def warn_if_shared_dir(directory: Path) -> None:
    """Warn (stderr, once per directory and process) when other users can write the directory holding the config:
    they could replace config.toml with a file of their own or a symlink."""
    key = str(directory)
    if key in _warned_dirs:
        return
    try:
        mode = directory.stat().st_mode
    except OSError:
        return
    if os.name == "nt" or not mode & (stat.S_IWGRP | stat.S_IWOTH):
        return
    _warned_dirs.add(key)

    who = "other users" if mode & stat.S_IWOTH else "its group"
    sys.stderr.write(
        f"Warning: the config directory {directory} is writable by {who} (mode {stat.S_IMODE(mode):04o}), who could "
        f"replace the config file (hint: chmod 700 {directory})\n"
    )
