"""`kvcli local …`: the embedded backend (serve it as the Fastly API; show where it lives)."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.state import emit_json, print_fields

app = typer.Typer(name="local", help="The embedded local backend.", no_args_is_help=True)


@app.command("info")
def info(json_out: JsonOpt = False) -> None:
    """Show where the embedded backend keeps its data.

    Example: kvcli local info
    """
    from kvcli.config import data_dir
    from kvcli.local.engine import DB_FILENAME

    d = data_dir()
    out = {"data_dir": str(d), "database": str(d / DB_FILENAME), "exists": (d / DB_FILENAME).exists()}
    if json_out:
        emit_json(out)
    else:
        print_fields([("Data dir", out["data_dir"]), ("Database", out["database"]), ("Exists", str(out["exists"]))])
