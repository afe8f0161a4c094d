"""Reading the official Fastly CLI's ``config.toml``, so its stored tokens can become kvcli profiles.

Where the file is (the official CLI uses Go's ``os.UserConfigDir()``): ``$XDG_CONFIG_HOME/fastly/config.toml``, else
``~/.config/fastly/config.toml`` on Linux and other Unixes; ``~/Library/Application Support/fastly/config.toml`` on
macOS; ``%AppData%\\fastly\\config.toml`` on Windows; ``~/.fastly/config.toml`` when that directory cannot be
determined. Two layouts are read:

* the current one, ``[auth] default = "NAME"`` and one ``[auth.tokens.NAME]`` table per token (``type`` is
  ``"static"`` or ``"sso"``, ``token`` the API token);
* the legacy one, ``[profile.NAME]`` tables with ``token`` and ``default = true``.

``[fastly] api_endpoint``, when it is not the default API, is the endpoint of every token. SSO tokens are session
tokens that expire within hours and need the official CLI to refresh them: they are listed as skipped, never imported.
Nothing here writes anything or prints a token.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from kvcli.api.errors import UsageError
from kvcli.records import dataclass

DEFAULT_API = "https://api.fastly.com"


@dataclass(frozen=True)
class OfficialToken:
    """One stored token of the official CLI: ``token`` is None when it cannot be imported (``skip`` says why)."""

    name: str
    token: str | None
    endpoint: str | None = None
    default: bool = False
    skip: str | None = None
    expires_at: str | None = None


def official_config_path(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Where the official Fastly CLI keeps its config on this machine."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = env.get("HOME") or os.path.expanduser("~")
    base: str | None
    if platform.startswith("win"):
        base = env.get("AppData") or env.get("APPDATA") or None
    elif platform == "darwin":
        base = os.path.join(home, "Library", "Application Support") if home else None
    else:
        xdg = env.get("XDG_CONFIG_HOME", "")
        base = xdg if xdg and os.path.isabs(xdg) else (os.path.join(home, ".config") if home else None)
    if base is None:
        return Path(home) / ".fastly" / "config.toml"
    return Path(base) / "fastly" / "config.toml"


def _bad_token(token: str) -> bool:
    return any(ord(c) < 0x21 or ord(c) == 0x7F for c in token)


def read_official(path: Path) -> list[OfficialToken]:
    """The tokens stored in the official CLI's config at ``path``, sorted by name (skipped ones included)."""
    import tomllib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"no official Fastly CLI config at {path}",
            "store a token with 'fastly auth add' first, or name the file to read with --from PATH",
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not the official Fastly CLI's config.toml", "name the file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", "name the official Fastly CLI's config.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", "name the official Fastly CLI's config.toml") from None

    fastly = _table(data, "fastly")
    endpoint = fastly.get("api_endpoint")
    endpoint = endpoint.rstrip("/") if isinstance(endpoint, str) and endpoint.strip() else None
    if endpoint == DEFAULT_API:
        endpoint = None

    found: dict[str, OfficialToken] = {}
    auth = _table(data, "auth")
    default = auth.get("default") if isinstance(auth.get("default"), str) else None
    tokens = _table(auth, "tokens")
    for name, body in tokens.items():
        if isinstance(body, dict):
            kind = body.get("type", "static")
            found[name] = _entry(name, body, endpoint, name == default, sso=kind == "sso")
    legacy = _table(data, "profile")
    for name, body in legacy.items():  # not yet migrated by the official CLI
        if isinstance(body, dict) and name not in found:
            sso = any(k in body for k in ("access_token", "refresh_token")) and not body.get("token")
            found[name] = _entry(name, body, endpoint, body.get("default") is True, sso=sso)
    return [found[n] for n in sorted(found)]


def _entry(name: str, body: dict, endpoint: str | None, default: bool, *, sso: bool) -> OfficialToken:
    token = body.get("token")
    expires = body.get("api_token_expires_at")
    expires = expires if isinstance(expires, str) and expires else None
    skip = None
    if sso:
        skip = "an SSO session token, which expires and only the official CLI can refresh"
    elif not isinstance(token, str) or not token:
        skip = "no token stored"
    elif _bad_token(token):
        skip = "the token contains a space or a control character"
    elif not name.strip() or name != name.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        skip = "not a valid kvcli profile name"
    return OfficialToken(
        name=name,
        token=None if skip else token,
        endpoint=endpoint,
        default=default,
        skip=skip,
        expires_at=expires,
    )


def _table(doc: dict, name: str) -> dict:
    """``doc[name]`` when it is a TOML table, else an empty one (a malformed section is ignored, as the official CLI
    ignores it)."""
    value = doc.get(name)
    return value if isinstance(value, dict) else {}
