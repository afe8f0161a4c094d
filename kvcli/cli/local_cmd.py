"""`kvcli local …`: the embedded backend (serve it as the Fastly API; show where it lives)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kvcli.api.errors import UsageError
from kvcli.cli.options import JsonOpt
from kvcli.cli.state import State

app = typer.Typer(name="local", help="The embedded local backend.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Show where the embedded backend keeps its data.

    Example: kvcli local info
    """
    state = State.of(ctx)
    out = state.out
    from kvcli.config import data_dir
    from kvcli.local.engine import DB_FILENAME

    d = data_dir()
    info = {"data_dir": str(d), "database": str(d / DB_FILENAME), "exists": (d / DB_FILENAME).exists()}
    if json_out:
        out.emit_json(info)
    else:
        out.print_fields([("Data dir", str(d)), ("Database", str(d / DB_FILENAME)), ("Exists", str(info["exists"]))])


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on; 0 picks a free one.", min=0, max=65535)
    ] = 7676,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data directory of the embedded backend (default: kvcli's data directory).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            "-t",
            envvar="KVCLI_SERVE_TOKEN",
            show_default=False,
            help="Require this Fastly-Key on every request (others get 401).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            show_default=False,
            help="Also answer requests for this Host name (repeatable). On a loopback address the server answers "
            "only localhost, 127.0.0.1 and ::1, so that web pages cannot reach it by DNS rebinding.",
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request on stderr.")] = False,
) -> None:
    """Serve the embedded backend as the Fastly KV store API, for the official Fastly CLI and API clients.

    Prints the URL on stdout and runs until Ctrl-C or SIGTERM. Point the official CLI at it with
    FASTLY_API_ENDPOINT=URL FASTLY_ACCOUNT_ENDPOINT=URL FASTLY_API_TOKEN=<token> fastly -q ...

    Example: kvcli local serve --port 7676 --token secret
    """
    state = State.of(ctx)
    out = state.out
    import os

    from kvcli.config import data_dir as default_data_dir
    from kvcli.local import serve as runner
    from kvcli.local.engine import Engine
    from kvcli.local.server import create_app

    if token is not None and not token:
        raise UsageError("--token is empty", "pass a non-empty token, or leave --token out to accept any key")
    if token is None and os.environ.get("KVCLI_SERVE_TOKEN") == "":
        # click reads an empty variable as "not set": that would silently start a server open to any key
        raise UsageError(
            "KVCLI_SERVE_TOKEN is set but empty",
            "set it to the token to require, or run 'unset KVCLI_SERVE_TOKEN' to accept any key",
        )
    allowed = [_allowed_host(name) for name in allow_host or ()]
    limits = runner.Limits.from_env()
    loopback = runner.is_loopback(host)
    sock = runner.bind(host, port)  # before opening the database: a busy port fails fast
    engine: Engine | None = None
    try:
        # the chunks of overlapping batch requests are written by a child process (kvcli.local.batch_writer): the
        # requests then parse in this process while the child's SQL runs, instead of taking turns for its GIL
        engine = Engine.in_dir(data_dir if data_dir is not None else default_data_dir(), batch_writer=True)
        url = runner.url_for(host, sock.getsockname()[1])
        # on a loopback bind only loopback Host names (and --allow-host ones) are answered: DNS rebinding
        app = create_app(
            engine,
            token=token,
            base_url=url,
            allowed_hosts=allowed if loopback else None,
            read_timeout=limits.read_timeout,
        )
        if not loopback and token is None:
            out.write_line(  # kvcli's own colour: not passed through out.err(), which escapes control characters
                _loud("WARNING:") + f" listening on {host}, which is not a loopback address, WITHOUT a token: anyone "
                "who can reach this port can read, change and delete every store. Pass --token (or bind 127.0.0.1)."
            )
        out.err(f"Serving the Fastly API for {engine.path} at {url}")
        out.err(
            f"  Official CLI: FASTLY_API_ENDPOINT={url} FASTLY_ACCOUNT_ENDPOINT={url} "
            f"FASTLY_API_TOKEN={'<token>' if token else 'any'} fastly -q kv-store list"
        )
        out.err("  Stop with Ctrl-C.")
        out.stdout.write(url + "\n")
        out.stdout.flush()
        runner.run(app, sock, access_log=access_log, limits=limits)
    finally:
        sock.close()
        if engine is not None:
            engine.close()  # waits for the batch writer process to finish the chunk it may be writing
    out.err("Stopped.")


def _allowed_host(name: str) -> str:
    """An --allow-host value: a host name or an IP address (an IPv6 one in brackets or not), without a port."""
    import ipaddress
    import re

    bare = name.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    label = r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
    if len(bare) > 253 or not re.fullmatch(rf"{label}(\.{label})*\.?", bare):
        raise UsageError(
            f"--allow-host {name!r} is not a host name or an IP address",
            "pass a bare name such as kv.internal, without scheme, path or port; repeat --allow-host for several",
        )
    return bare.lower().rstrip(".")


def _loud(text: str) -> str:
    import os

    if os.environ.get("NO_COLOR") or not sys.stderr.isatty():
        return text
    return f"\x1b[1;31m{text}\x1b[0m"
