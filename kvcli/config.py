"""Profiles and backend selection.

The config file is ``config.toml`` in ``$KVCLI_CONFIG_DIR`` (else platformdirs' user config dir for "kvcli")::

    default_profile = "work"

    [profiles.work]
    type = "fastly"                       # talks HTTP to the Fastly API
    token = "…"
    endpoint = "https://api.fastly.com"   # optional

    [profiles.dev]
    type = "local"                        # the embedded backend
    data_dir = "/path/to/data"            # optional; default: $KVCLI_DATA_DIR or the user data dir

It is read with tomllib and written atomically (temp file, fsync, rename) with mode 0600. A corrupt file is reported
with its path and line and never replaced. Changes take the config lock (:func:`editing`), so concurrent commands
never lose each other's profiles; a symlinked ``config.toml`` is written through to its target; missing directories
are created 0700, and a config directory that other users can write is warned about.

Which backend a command uses, highest first (:func:`resolve_target`):

1. ``--local``: the embedded backend in the default data directory (whatever profiles say).
2. ``--token/-t`` or ``--endpoint/--api``: the Fastly API.
   * ``-t NAME`` where NAME is a stored Fastly profile with a token uses that profile's token *and* endpoint (like the
     official CLI, where ``--token`` may name a stored token); any other value is the token itself.
   * The endpoint is ``--endpoint``, else (raw token) ``FASTLY_API_ENDPOINT``, else https://api.fastly.com.
   * ``--endpoint`` without ``-t`` takes the token from ``FASTLY_API_TOKEN``, else sends no token: a token stored in
     a profile is never sent to an endpoint typed on the command line.
3. ``--profile/-o NAME``: that profile (an unknown name is an error).
4. ``FASTLY_API_TOKEN`` / ``FASTLY_API_ENDPOINT`` (empty values count as unset): the Fastly API.
5. ``KVCLI_PROFILE``: that profile.
6. the config's ``default_profile`` (a name that matches no profile is an error, not a silent fallback).
7. otherwise the embedded local backend in the default data directory.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from kvcli.api.errors import ConfigError, UsageError
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
    import sys

    if sys.platform.startswith("linux") and "ANDROID_DATA" not in env:
        var, default = _XDG[kind]
        raw = env.get(var, "")
        return Path(raw if raw.strip() else os.path.expanduser(default)) / "kvcli"
    import platformdirs

    return Path(platformdirs.user_data_dir("kvcli") if kind == "data" else platformdirs.user_config_dir("kvcli"))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / CONFIG_FILENAME


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


def _write_target(path: Path) -> Path:
    """The file a write of ``path`` replaces: ``path`` itself, or the file its symlink (chain) points to."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and every missing parent with mode 0700 (whatever the umask); existing ones are kept."""
    missing: list[Path] = []
    d = directory
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by another process
            continue
        os.chmod(d, 0o700)


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
    import sys

    who = "other users" if mode & stat.S_IWOTH else "its group"
    sys.stderr.write(
        f"Warning: the config directory {directory} is writable by {who} (mode {stat.S_IMODE(mode):04o}), who could "
        f"replace the config file (hint: chmod 700 {directory})\n"
    )


_held_locks: set[str] = set()


@contextmanager
def _config_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock between kvcli processes for a read-modify-write of the config in ``directory``.

    POSIX: ``flock`` on the directory itself (its inode survives the atomic replace of the file, and no lock file is
    left behind); the kernel releases it when the holder dies, even by kill -9. Windows: ``msvcrt.locking`` on a lock
    file in the directory, best effort. Re-entrant within one process (``save`` inside ``editing``).
    """
    key = os.path.realpath(directory)
    if key in _held_locks:
        yield
        return
    fd: int | None = None
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            fd = os.open(os.path.join(key, ".kvcli-config.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for ~10 s, then OSError: retry again
                    break
                except OSError:
                    continue
        else:
            import fcntl

            fd = os.open(key, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # pragma: no cover - a file system without locks: proceed unlocked rather than fail
        if fd is not None:
            os.close(fd)
        fd = None
    _held_locks.add(key)
    try:
        yield
    finally:
        _held_locks.discard(key)
        if fd is not None:
            os.close(fd)  # closing releases the lock


@contextmanager
def editing(path: Path | None = None) -> Iterator[Config]:
    """Load the config for a change, holding the config lock until the block ends (call :func:`save` inside).

    Concurrent ``profile create``s and friends then take turns instead of each saving what it read before the
    others wrote (which lost profiles).
    """
    path = config_path() if path is None else path
    directory = _write_target(path).parent
    _make_private_dirs(directory)
    with _config_lock(directory):
        yield load(path)


def _remove_stale_temp_files(directory: Path, target: Path) -> None:
    """Temp files of writers that died mid-write (kill -9) may hold tokens: remove them. Called with the lock held,
    when no live kvcli is writing one."""
    for pattern in (f".{target.name}.*.tmp", ".config.*.tmp"):
        for stale in directory.glob(pattern):
            try:
                stale.unlink()
            except OSError:
                pass


def save(cfg: Config) -> None:
    """Write atomically with mode 0600: temp file in the same directory, fsync, rename.

    A symlinked config file is written through: its target is replaced (atomically), the link stays. Missing
    directories are created 0700; stale temp files of interrupted writes are removed.
    """
    import tomli_w

    data: dict = {}
    if cfg.default_profile:
        data["default_profile"] = cfg.default_profile
    data["profiles"] = {name: p.to_toml() for name, p in sorted(cfg.profiles.items())}
    text = tomli_w.dumps(data)
    target = _write_target(cfg.path)
    directory = target.parent
    _make_private_dirs(directory)
    warn_if_shared_dir(directory)
    import tempfile

    with _config_lock(directory):
        _remove_stale_temp_files(directory, target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------- target resolution
@dataclass(frozen=True)
class Target:
    """Where a command's requests go. ``kind`` is "local" (embedded engine) or "http" (a Fastly API endpoint)."""

    kind: Literal["local", "http"]
    source: str  # which precedence step chose it, e.g. "--profile work" or "default (no configuration)"
    endpoint: str | None = None
    token: str | None = None
    data_dir: Path | None = None
    profile: str | None = None

    def describe(self) -> str:
        if self.kind == "local":
            return f"embedded backend at {self.data_dir} (via {self.source})"
        return f"Fastly API at {_shown_endpoint(self.endpoint or '')} (via {self.source})"


def _shown_endpoint(endpoint: str) -> str:
    """An endpoint as kvcli shows it: without the credentials a URL may carry (they stay in the config file)."""
    from kvcli.redact import redact_url

    return redact_url(endpoint)


def check_private(cfg: Config) -> None:
    """Tokens are never used from a config file that other users can read (kvcli writes it 0600)."""
    if world_readable(cfg.path):
        mode = stat.S_IMODE(cfg.path.stat().st_mode)
        raise ConfigError(
            f"refusing to use the API token in {cfg.path}: the file is readable by other users (mode {mode:04o})",
            f"run 'chmod 600 {cfg.path}', and consider replacing the token",
        )


def _from_profile(p: Profile, source: str, env: Mapping[str, str], cfg: Config | None = None) -> Target:
    if p.type == "fastly" and p.token and cfg is not None:
        check_private(cfg)
    if p.type == "local":
        where = Path(p.data_dir).expanduser() if p.data_dir else data_dir(env)
        return Target("local", source, data_dir=where, profile=p.name)
    return Target("http", source, endpoint=p.endpoint or DEFAULT_ENDPOINT, token=p.token, profile=p.name)


def resolve_target(
    *,
    local: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    cfg: Config | None = None,
) -> Target:
    """Apply the documented precedence (see module docstring)."""
    env = os.environ if env is None else env

    def config() -> Config:
        nonlocal cfg
        if cfg is None:
            cfg = load(config_path(env))
        return cfg

    for flag, given in (("--token", token), ("--endpoint", endpoint)):
        if given is not None and not given.strip():
            raise UsageError(f"{flag} is empty", f"pass a value, or leave {flag} out")
    if local:
        if token or endpoint:
            raise UsageError("--local cannot be combined with --token or --endpoint", "use one or the other")
        return Target("local", "--local", data_dir=data_dir(env))
    if token and token in config().profiles:  # -t NAME: a stored profile's token (and endpoint)
        p = config().profiles[token]
        if p.type != "fastly" or not p.token:
            raise UsageError(
                f"-t/--token {token!r} names a {p.type} profile without a token",
                f"use -o {token} to select that profile, or pass the token itself",
            )
        check_private(config())
        return Target(
            "http",
            f"--token {token} (profile)",
            endpoint=endpoint or p.endpoint or DEFAULT_ENDPOINT,
            token=p.token,
            profile=p.name,
        )
    if token or endpoint:
        return Target(
            "http",
            "--token" if token else "--endpoint",
            endpoint=endpoint or env.get("FASTLY_API_ENDPOINT") or DEFAULT_ENDPOINT,
            token=token or env.get("FASTLY_API_TOKEN") or None,
        )
    if profile:
        return _from_profile(config().get(profile), f"--profile {profile}", env, config())
    if env.get("FASTLY_API_TOKEN") or env.get("FASTLY_API_ENDPOINT"):
        src = "FASTLY_API_TOKEN" if env.get("FASTLY_API_TOKEN") else "FASTLY_API_ENDPOINT"
        return Target(
            "http",
            src,
            endpoint=env.get("FASTLY_API_ENDPOINT") or DEFAULT_ENDPOINT,
            token=env.get("FASTLY_API_TOKEN") or None,
        )
    if env.get("KVCLI_PROFILE"):
        chosen = env["KVCLI_PROFILE"]
        return _from_profile(config().get(chosen), f"KVCLI_PROFILE={chosen}", env, config())
    name = config().default_profile
    if name:
        if name not in config().profiles:
            raise ConfigError(
                f"config file {config().path}: default_profile {name!r} names no profile",
                "pick one with 'kvcli profile switch NAME'; 'kvcli profile list' shows them",
            )
        return _from_profile(config().profiles[name], f"default profile {name}", env, config())
    return Target("local", "default: nothing configured", data_dir=data_dir(env))


def make_api(target: Target, **http_options):
    """Build the adapter for a target (imports only what that adapter needs)."""
    if target.kind == "local":
        from kvcli.api.local import LocalAdapter

        assert target.data_dir is not None
        return LocalAdapter.open(target.data_dir)
    from kvcli.api.http import HttpAdapter

    return HttpAdapter(target.endpoint or DEFAULT_ENDPOINT, target.token, **http_options)
