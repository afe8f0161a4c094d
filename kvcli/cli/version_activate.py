"""`kvcli service version activate`."""

from __future__ import annotations

import typer

from kvcli.cli.options import JsonOpt
from kvcli.cli.service_common import change_version_state
from kvcli.cli.service_options import ServiceIdOpt, ServiceNameOpt, VersionOpt
from kvcli.cli.state import State


def version_activate(
    ctx: typer.Context,
    version: VersionOpt, service_id: ServiceIdOpt = None, service_name: ServiceNameOpt = None, json_out: JsonOpt = False
) -> None:
    """Activate a version (this locks it; the previously active version is deactivated).

    Example: kvcli service version activate --service-id SVC --version latest
    """
    change_version_state(State.of(ctx), "activate", "Activated", version, service_id, service_name, json_out)
