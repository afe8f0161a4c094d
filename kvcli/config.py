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
Reading lives in :mod:`kvcli.config_file`, writing in :mod:`kvcli.config_write`; both are re-exported here.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from kvcli.api.errors import ConfigError, UsageError
from kvcli.config_file import (  # noqa: F401 - re-exported: kvcli.config is where callers find them
    CONFIG_FILENAME,
    DEFAULT_ENDPOINT,
    PROFILE_TYPES,
    Config,
    Profile,
    _shown_endpoint,
    config_dir,
    config_path,
    data_dir,
    load,
    warn_if_shared_dir,
    world_readable,
)
from kvcli.config_write import editing, save  # noqa: F401 - re-exported
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time


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
