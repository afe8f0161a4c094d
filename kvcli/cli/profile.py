"""`kvcli profile …`: named backends (Fastly API with a token, or a local data directory)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kvcli import config as cfgmod
from kvcli.api.errors import ConfigError, UsageError
from kvcli.cli import complete
from kvcli.cli.options import JsonOpt, OutputFormatOpt
from kvcli.cli.profile_input import TokenStdinOpt, _abs_dir, _check_endpoint, _check_name, _token_from
from kvcli.cli.state import Output, State, output_format, stdout_is_tty

app = typer.Typer(name="profile", help="Manage profiles: which backend and token to use.", no_args_is_help=True)

NameArg = Annotated[
    str, typer.Argument(help="Profile name.", autocompletion=complete.profile_names, show_default=False)
]


def _load() -> cfgmod.Config:
    return cfgmod.load(cfgmod.config_path())


def _prompt_token(state: State, name: str) -> str | None:
    """Ask for the token with hidden input, only when a person is at a terminal (never in a script: no terminal on
    stdin, or --non-interactive). An empty answer stores no token."""
    from kvcli.cli.state import stdin_is_tty

    if state.non_interactive or not stdin_is_tty() or not sys.stderr.isatty():
        return None
    import getpass

    try:
        answer = getpass.getpass(f"Fastly API token for profile '{name}' (input hidden; Enter for none): ")
    except EOFError:
        return None
    answer = answer.strip()
    if answer and any(ord(c) < 0x21 or ord(c) == 0x7F for c in answer):
        raise UsageError("the token contains a space or a control character", "paste only the token")
    return answer or None


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    token: Annotated[
        str | None, typer.Option(
            "--token", "-t", help="Fastly API token (visible in ps: prefer --token-stdin).", show_default=False
        )
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", "--api", help="API endpoint (default: https://api.fastly.com).", show_default=False),
    ] = None,
    token_stdin: TokenStdinOpt = False,
    local: Annotated[bool, typer.Option("--local", help="A profile for the embedded local backend.")] = False,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="With --local: where the database lives.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default profile.")] = False,
) -> None:
    """Create a profile (made the default with --default, or when it is the only profile).

    Without --token or --token-stdin, a Fastly profile asks for its token (hidden) when run at a terminal.

    Example: printf '%s' "$FASTLY_API_TOKEN" | kvcli profile create work --token-stdin --default
    """
    state = State.of(ctx)
    out = state.out
    if local and (token is not None or token_stdin or endpoint):
        raise UsageError(
            "a --local profile takes no --token, --token-stdin or --endpoint", "drop --local, or drop those flags"
        )
    if data_dir and not local:
        raise UsageError("--data-dir goes with --local", "add --local")
    _check_name(name)
    _check_endpoint(endpoint)
    token = _token_from(token, token_stdin)
    if name in _load().profiles:  # before asking for a token
        raise UsageError(f"profile {name!r} already exists", "choose another name or use 'kvcli profile update'")
    if not local and token is None:
        token = _prompt_token(state, name)
    with cfgmod.editing() as cfg:
        if name in cfg.profiles:
            raise UsageError(f"profile {name!r} already exists", "choose another name or use 'kvcli profile update'")
        alone = not cfg.profiles  # only the only profile becomes the default without --default
        if local:
            prof = cfgmod.Profile(name=name, type="local", data_dir=_abs_dir(data_dir))
        else:
            prof = cfgmod.Profile(name=name, type="fastly", token=token, endpoint=endpoint)
        cfg.profiles[name] = prof
        if default or alone:
            cfg.default_profile = name
        cfgmod.save(cfg)
    out.success(f"Created profile '{name}' ({prof.type}){' as default' if cfg.default_profile == name else ''}")
    _say_how_to_make_default(out, name, cfg.default_profile)


def _say_how_to_make_default(out: Output, name: str, current: str | None) -> None:
    if current == name:
        return
    if current is None:
        out.message(f"There is no default profile; to make '{name}' the default: kvcli profile switch {name}")
    else:
        out.message(
            f"The default profile is still '{current}'; to make '{name}' the default: kvcli profile switch {name}"
        )


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False, fmt: OutputFormatOpt = None) -> None:
    """List profiles (tokens are never shown).

    Example: kvcli profile list --json
    """
    state = State.of(ctx)
    out = state.out
    fmt = output_format(fmt, json_out)
    cfg = _load()
    rows = [p.public(p.name == cfg.default_profile) for _, p in sorted(cfg.profiles.items())]
    if fmt in ("json", "ndjson"):
        (out.emit_json if fmt == "json" else out.emit_ndjson)(rows)
        return
    if not rows:
        out.message(
            "No profiles. The embedded local backend is used. Create one with: kvcli profile create NAME --token T"
        )
        return
    out.print_table(
        fmt=fmt,
        columns=["Name", "Type", "Default", "Endpoint / data dir", "Token"],
        rows=[
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
def switch(ctx: typer.Context, name: NameArg) -> None:
    """Make a profile the default.

    Example: kvcli profile switch work
    """
    state = State.of(ctx)
    out = state.out
    with cfgmod.editing() as cfg:
        cfg.get(name)
        cfg.default_profile = name
        cfgmod.save(cfg)
    out.success(f"Default profile is now '{name}'")


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    token: Annotated[
        str | None,
        typer.Option("--token", "-t", help="New token (visible in ps: prefer --token-stdin).", show_default=False),
    ] = None,
    token_stdin: TokenStdinOpt = False,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "--api", help="New endpoint.", show_default=False)
    ] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="New data directory (local profiles).")] = None,
    default: Annotated[bool, typer.Option("--default", help="Also make it the default.")] = False,
) -> None:
    """Change a profile's token, endpoint or data directory.

    Example: printf '%s' "$NEW_TOKEN" | kvcli profile update work --token-stdin
    """
    state = State.of(ctx)
    out = state.out
    _check_endpoint(endpoint)
    kind = _load().get(name).type
    if kind == "local" and (token or token_stdin or endpoint):
        raise UsageError(f"profile {name!r} is a local profile; it has no token or endpoint", "use --data-dir")
    if kind == "fastly" and data_dir:
        raise UsageError(f"profile {name!r} is a Fastly profile; it has no data directory", "use --token/--endpoint")
    if token is None and not token_stdin and endpoint is None and data_dir is None and not default:
        raise UsageError("nothing to update", "pass --token-stdin, --token, --endpoint, --data-dir or --default")
    token = _token_from(token, token_stdin)
    with cfgmod.editing() as cfg:
        prof = cfg.get(name)
        if token is not None:
            prof.token = token
        if endpoint is not None:
            prof.endpoint = endpoint
        if data_dir is not None:
            prof.data_dir = _abs_dir(data_dir)
        if default:
            cfg.default_profile = name
        cfgmod.save(cfg)
    out.success(f"Updated profile '{name}'")


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
    if prof.type != "fastly":
        raise UsageError(
            f"profile {name!r} is a local profile: it uses the embedded backend and has no token",
            "name a Fastly profile: kvcli profile token NAME; 'kvcli profile list' shows each profile's type",
        )
    if not prof.token:
        raise ConfigError(
            f"profile {name!r} has no token",
            f"set one with 'kvcli profile update {name} --token-stdin', or import the official Fastly CLI's tokens "
            "with 'kvcli profile import'",
        )
    if stdout_is_tty() and not force_tty:
        raise UsageError(
            "refusing to print a token to a terminal", "use it in a command substitution or a pipe, or pass --reveal"
        )
    sys.stdout.write(prof.token + "\n")


@app.command("delete")
def delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete a profile.

    Example: kvcli profile delete old
    """
    state = State.of(ctx)
    out = state.out
    with cfgmod.editing() as cfg:
        cfg.get(name)
        del cfg.profiles[name]
        if cfg.default_profile == name:
            cfg.default_profile = None
        cfgmod.save(cfg)
    none_left = " (there is no default profile now)" if cfg.default_profile is None else ""
    out.success(f"Deleted profile '{name}'" + none_left)


@app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help="Import only this stored token of the official CLI (default: every one).",
                       show_default=False),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="The official CLI's config.toml (default: where the official CLI keeps it).",
                     metavar="PATH", show_default=False),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be imported; change nothing.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace kvcli profiles that have the same name.")
    ] = False,
) -> None:
    """Import the API tokens stored by the official Fastly CLI as kvcli profiles.

    Each stored token becomes a Fastly profile of the same name, its token kept in kvcli's config file (mode 0600).
    SSO session tokens are skipped. An existing kvcli profile is never replaced without --overwrite.

    Example: kvcli profile import --dry-run
    """
    state = State.of(ctx)
    out = state.out
    from pathlib import Path

    from kvcli.fastly_config import official_config_path, read_official

    path = Path(source).expanduser() if source else official_config_path()
    found = read_official(path)
    if name is not None:
        found = [t for t in found if t.name == name]
        if not found:
            known = ", ".join(t.name for t in read_official(path)) or "none"
            raise UsageError(f"the official Fastly CLI has no token named {name!r} in {path}; it has: {known}",
                             "name one of those, or leave the name out to import every one")
    usable = [t for t in found if t.token]
    if name is not None and not usable and not dry_run:
        raise UsageError(f"cannot import {name!r} from {path}: {found[0].skip}",
                         f"create the profile with an API token: kvcli profile create {name} --token-stdin")
    if not usable and not any(t.skip for t in found):
        out.message(f"No tokens stored in {path}; nothing to import.")
        return

    existing = _load().profiles
    taken = [t.name for t in usable if t.name in existing]
    if dry_run:
        for t in found:
            if t.skip:
                line = f"skip     {t.name}: {t.skip}"
            elif t.name in existing:
                line = f"replace  {t.name}" if overwrite else f"conflict {t.name}: a kvcli profile of that name exists"
            else:
                line = f"add      {t.name}"
            if not t.skip and t.endpoint:
                line += f" (endpoint {t.endpoint})"
            out.stdout.write(line + "\n")
        adds = [t for t in usable if overwrite or t.name not in existing]
        out.message(f"Dry run: would import {len(adds)} of {len(found)} stored token{'s' if len(found) != 1 else ''} "
                    f"from {path}; nothing changed")
        if taken and not overwrite:
            out.message("--overwrite would replace the kvcli profiles marked 'conflict'")
        return
    if taken and not overwrite:
        raise UsageError(
            f"kvcli already has profile{'s' if len(taken) != 1 else ''} named {', '.join(taken)}; nothing imported",
            "pass --overwrite to replace them, or import another token by name",
        )
    for t in found:
        if t.skip:

            out.warning(f"Skipped '{t.name}': {t.skip}")
    if not usable:
        return
    with cfgmod.editing() as cfg:
        taken = [t.name for t in usable if t.name in cfg.profiles]
        if taken and not overwrite:  # created meanwhile by another kvcli
            raise UsageError(f"kvcli already has profiles named {', '.join(taken)}; nothing imported",
                             "pass --overwrite to replace them")
        alone = not cfg.profiles
        for t in usable:
            cfg.profiles[t.name] = cfgmod.Profile(name=t.name, type="fastly", token=t.token, endpoint=t.endpoint)
        official_default = next((t.name for t in usable if t.default), None)
        if alone:  # as with profile create: only into an empty config does a default come along implicitly
            cfg.default_profile = official_default or (usable[0].name if len(usable) == 1 else None)
        cfgmod.save(cfg)
    for t in usable:
        replaced = " (replaced)" if t.name in taken else ""
        suffix = " as default" if cfg.default_profile == t.name else ""
        out.success(f"Imported profile '{t.name}' (fastly){suffix}{replaced} from {path}")
        if t.expires_at:
            _warn_if_expired(out, t.name, t.expires_at)
    if official_default and cfg.default_profile != official_default:
        _say_how_to_make_default(out, official_default, cfg.default_profile)


def _warn_if_expired(out: Output, name: str, expires_at: str) -> None:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return
    if when.tzinfo is not None and when < datetime.now(UTC):

        out.warning(f"the token of '{name}' expired at {expires_at}; update it with 'kvcli profile update {name} "
                    "--token-stdin'")
