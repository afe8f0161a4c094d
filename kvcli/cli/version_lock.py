"""`kvcli service version lock`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import change_version_state
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt
from kvcli.cli.state import State


def version_lock(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Lock a version against further edits.

    Example: kvcli service version lock --service-id SVC --version 3
    """
    change_version_state(State.of(ctx), "lock", "Locked", version, service_id, service_name, json_out)
