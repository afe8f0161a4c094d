"""`kvcli kv-store-entry …`: single keys, listing, deletion and bulk import/export."""

from __future__ import annotations

import typer

app = typer.Typer(name="kv-store-entry", help="Create, read, list and delete KV store entries.", no_args_is_help=True)
