"""`kvcli service version deactivate`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import change_version_state
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt
from kvcli.cli.state import State


def version_deactivate(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Deactivate the active version.

    Example: kvcli service version deactivate --service-id SVC --version active
    """
    change_version_state(State.of(ctx), "deactivate", "Deactivated", version, service_id, service_name, json_out)
