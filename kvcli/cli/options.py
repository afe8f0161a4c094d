"""Options shared by several commands (one definition each, so help and behaviour stay the same)."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from kvcli.cli import complete
from kvcli.cli.core import human_time, resolve_store_id, rfc3339  # noqa: F401  (typer-free, shared with the fast path)

JsonOpt = Annotated[bool, typer.Option("--json", "-j", help="Print machine-readable JSON on stdout.")]
OutputFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--output-format",
        help="table, plain, json or ndjson (default: table on a terminal, plain otherwise; json = --json).",
        click_type=click.Choice(["table", "plain", "json", "ndjson"]),
        show_default=False,
    ),
]
StoreIdOpt = Annotated[
    str | None,
    typer.Option("--store-id", "-s", help="ID of the KV store.", autocompletion=complete.store_ids, show_default=False),
]
StoreNameOpt = Annotated[
    str | None,
    typer.Option(
        "--store-name",
        help="Name of the KV store (instead of --store-id).",
        autocompletion=complete.store_names,
        show_default=False,
    ),
]
