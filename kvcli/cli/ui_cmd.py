"""`kvcli ui`: the web explorer (kvcli/ui/), over the backend the global flags select."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(name="ui", help="Browse and edit stores in a web page (served on 127.0.0.1).")


@app.command("ui")
def ui(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (127.0.0.1 only); 0 picks a free one.", min=0, max=65535)
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser; just print the URL.")
    ] = False,
) -> None:
    """Browse and edit stores in a web page: keys as a list or a tree, values, metadata and expiry.

    Add, edit, delete, bulk-delete a prefix, import and export. Works over any backend: the embedded one by default,
    a Fastly profile (-o NAME) or 'kvcli local serve' (--endpoint URL).

    Prints the URL, with its access token, as the first line of stdout; opens it in a browser unless --no-browser
    or there is no display; runs until Ctrl-C.

    Example: kvcli ui --no-browser
    """
    import kvcli
    from kvcli.cli.state import State
    from kvcli.ui.run import serve

    state = State.of(ctx)
    out = state.out

    target = state.target()  # registers the token for redaction; the precedence the other commands apply
    kv = kvcli.connect(local=state.local, token=state.token, endpoint=state.endpoint, profile=state.profile)
    try:
        serve(kv, port=port, description=target.describe(), browser=not no_browser,
              say=lambda text: None if state.quiet else out.err(text))
    finally:
        kv.close()
    out.err("Stopped.")
