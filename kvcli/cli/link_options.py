"""The options the `resource-link` commands share (the service and version ones: :mod:`kvcli.cli.service_options`)."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcli.cli import complete

LinkIdOpt = Annotated[str, typer.Option("--id", help="ID of the resource link.", show_default=False)]
ResourceIdOpt = Annotated[
    str | None,
    typer.Option(
        "--resource-id", "-r", help="ID of the KV store to link.", autocompletion=complete.store_ids,
        show_default=False,
    ),
]
LinkStoreNameOpt = Annotated[
    str | None,
    typer.Option(
        "--store-name", help="Name of the KV store to link (instead of -r/--resource-id).",
        autocompletion=complete.store_names, show_default=False,
    ),
]
LinkNameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", help="Link name, the name edge code opens the store by (default: the store's name).",
        show_default=False,
    ),
]
