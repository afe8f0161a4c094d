"""`kvcli profile …`: named backends (Fastly API with a token, or a local data directory)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kvcli import config as cfgmod
from kvcli.api.errors import ConfigError, UsageError
from kvcli.cli import complete
from kvcli.cli.options import JsonOpt
from kvcli.cli.state import emit_json, message, print_table, stdout_is_tty, success

app = typer.Typer(name="profile", help="Manage profiles: which backend and token to use.", no_args_is_help=True)

NameArg = Annotated[
    str, typer.Argument(help="Profile name.", autocompletion=complete.profile_names, show_default=False)
]


def _load() -> cfgmod.Config:
    return cfgmod.load(cfgmod.config_path())


def _check_name(name: str) -> None:
    if not name.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or name != name.strip():
        raise UsageError(f"invalid profile name {name!r}", "use a non-empty name without control characters or "
                         "leading/trailing spaces")


def _abs_dir(path: str | None) -> str | None:
    """Profiles store absolute data paths, so a profile works from any working directory."""
    if path is None:
        return None
    from pathlib import Path

    return str(Path(path).expanduser().absolute())


def _check_token(token: str | None) -> None:
    """An explicitly empty --token (often an unset variable: --token "$TOKEN") is a mistake, not "no token"."""
    if token is not None and not token.strip():
        raise UsageError("--token is empty", 'pass the token itself, e.g. --token "$FASTLY_API_TOKEN" (is it set?)')


def _check_endpoint(endpoint: str | None) -> None:
    if endpoint is None:
        return
    from urllib.parse import urlparse

    u = urlparse(endpoint)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise UsageError(f"invalid endpoint URL {endpoint!r}", "use a URL such as https://api.fastly.com")


@app.command("create")
def create(
    name: NameArg,
    token: Annotated[
        str | None, typer.Option("--token", "-t", help="Fastly API token for this profile.", show_default=False)
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", "--api", help="API endpoint (default: https://api.fastly.com).", show_default=False),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="A profile for the embedded local backend.")] = False,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="With --local: where the database lives.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default profile.")] = False,
) -> None:
    """Create a profile (the first profile becomes the default).

    Example: kvcli profile create work --token "$FASTLY_API_TOKEN" --default
    """
    if local and (token is not None or endpoint):
        raise UsageError("a --local profile takes no --token or --endpoint", "drop --local, or drop those flags")
    _check_token(token)
    if data_dir and not local:
        raise UsageError("--data-dir goes with --local", "add --local")
    _check_name(name)
    _check_endpoint(endpoint)
    cfg = _load()
    if name in cfg.profiles:
        raise ConfigError(f"profile {name!r} already exists", "choose another name or use 'kvcli profile update'")
    if local:
        prof = cfgmod.Profile(name=name, type="local", data_dir=_abs_dir(data_dir))
    else:
        prof = cfgmod.Profile(name=name, type="fastly", token=token, endpoint=endpoint)
    cfg.profiles[name] = prof
    if default or cfg.default_profile is None:
        cfg.default_profile = name
    cfgmod.save(cfg)
    success(f"Created profile '{name}' ({prof.type}){' as default' if cfg.default_profile == name else ''}")


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List profiles (tokens are never shown).

    Example: kvcli profile list --json
    """
    cfg = _load()
    rows = [p.public(p.name == cfg.default_profile) for _, p in sorted(cfg.profiles.items())]
    if json_out:
        emit_json(rows)
        return
    if not rows:
        message("No profiles. The embedded local backend is used. Create one with: kvcli profile create NAME --token T")
        return
    print_table(
        ["Name", "Type", "Default", "Endpoint / data dir", "Token"],
        [
            [
                r["name"],
                r["type"],
                "yes" if r["default"] else "",
                (r["endpoint"] if r["type"] == "fastly" else r["data_dir"] or "(default data dir)") or "",
                ("set" if r["has_token"] else "none") if r["type"] == "fastly" else "-",
            ]
            for r in rows
        ],
    )


@app.command("switch")
def switch(name: NameArg) -> None:
    """Make a profile the default.

    Example: kvcli profile switch work
    """
    cfg = _load()
    cfg.get(name)
    cfg.default_profile = name
    cfgmod.save(cfg)
    success(f"Default profile is now '{name}'")


@app.command("update")
def update(
    name: NameArg,
    token: Annotated[str | None, typer.Option("--token", "-t", help="New token.", show_default=False)] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "--api", help="New endpoint.", show_default=False)
    ] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="New data directory (local profiles).")] = None,
    default: Annotated[bool, typer.Option("--default", help="Also make it the default.")] = False,
) -> None:
    """Change a profile's token, endpoint or data directory.

    Example: kvcli profile update work --token NEW_TOKEN
    """
    cfg = _load()
    prof = cfg.get(name)
    _check_endpoint(endpoint)
    _check_token(token)
    if prof.type == "local" and (token or endpoint):
        raise UsageError(f"profile {name!r} is a local profile; it has no token or endpoint", "use --data-dir")
    if prof.type == "fastly" and data_dir:
        raise UsageError(f"profile {name!r} is a Fastly profile; it has no data directory", "use --token/--endpoint")
    if token is None and endpoint is None and data_dir is None and not default:
        raise UsageError("nothing to update", "pass --token, --endpoint, --data-dir or --default")
    if token is not None:
        prof.token = token
    if endpoint is not None:
        prof.endpoint = endpoint
    if data_dir is not None:
        prof.data_dir = _abs_dir(data_dir)
    if default:
        cfg.default_profile = name
    cfgmod.save(cfg)
    success(f"Updated profile '{name}'")


@app.command("token")
def token(
    name: Annotated[
        str | None,
        typer.Argument(help="Profile name (default: the default profile).", autocompletion=complete.profile_names),
    ] = None,
    force_tty: Annotated[
        bool, typer.Option("--reveal", help="Print even when stdout is a terminal.")
    ] = False,
) -> None:
    """Print a profile's token (for $(kvcli profile token) in scripts).

    Example: export FASTLY_API_TOKEN=$(kvcli profile token work)
    """
    cfg = _load()
    if name is None:
        if cfg.default_profile is None:
            raise ConfigError("no default profile", "name a profile: kvcli profile token NAME")
        name = cfg.default_profile
    prof = cfg.get(name)
    if prof.type != "fastly" or not prof.token:
        raise ConfigError(f"profile {name!r} has no token", f"set one with: kvcli profile update {name} --token T")
    if stdout_is_tty() and not force_tty:
        raise UsageError("refusing to print a token to a terminal", "use it in $(...) or a pipe, or pass --reveal")
    sys.stdout.write(prof.token + "\n")


@app.command("delete")
def delete(name: NameArg) -> None:
    """Delete a profile.

    Example: kvcli profile delete old
    """
    cfg = _load()
    cfg.get(name)
    del cfg.profiles[name]
    if cfg.default_profile == name:
        cfg.default_profile = None
    cfgmod.save(cfg)
    success(f"Deleted profile '{name}'" + (" (there is no default profile now)" if cfg.default_profile is None else ""))
