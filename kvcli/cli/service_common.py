"""What the `service`, `service version` and `resource-link` commands share beyond their options
(:mod:`kvcli.cli.service_options`): finding the version a command works on, and the versions listing."""

from __future__ import annotations

from kvcli.cli.options import human_time
from kvcli.cli.service_options import resolve_service_id, version_json, version_state
from kvcli.cli.state import Output, State, output_format


def editable(out: Output, api, service_id: str | None, service_name: str | None, version: str, autoclone: bool):
    """Service ID and an editable version number (cloning with --autoclone, and saying so)."""
    from kvcli.api.versioning import editable_version, parse_version_spec

    spec = parse_version_spec(version)
    sid = resolve_service_id(out, api, service_id, service_name)
    chosen = editable_version(api, sid, spec, autoclone=autoclone)
    if chosen.cloned_from is not None:
        src = chosen.cloned_from
        state = "active" if src.active else "locked"
        out.message(
            f"INFO: service version {src.number} is {state}, so it was cloned because --autoclone was given. "
            f"Now working on version {chosen.version.number}."
        )
    return sid, chosen.version.number


def service_and_version(out: Output, api, service_id: str | None, service_name: str | None, version: str):
    """Service ID and the version (a model) that ``version`` (a number, ``latest`` or ``active``) names."""
    from kvcli.api.versioning import parse_version_spec, resolve_version

    spec = parse_version_spec(version)
    sid = resolve_service_id(out, api, service_id, service_name)
    return sid, resolve_version(api, sid, spec)


def versions_table(
    out: Output, versions, title: str | None = None, fmt: str | None = None, label: str | None = None
) -> None:
    """The versions as a listing; ``label`` (plain only) starts each row, as under a record's fields."""
    rows = [[str(v.number), version_state(v), v.comment, human_time(v.created_at), human_time(v.updated_at)]
            for v in versions]  # fmt: skip
    fmt = fmt or output_format(None)
    if label and fmt == "plain":
        rows = [[label, *row] for row in rows]
    out.print_table(["Number", "State", "Comment", "Created (UTC)", "Last edited (UTC)"], rows, title=title, fmt=fmt)


def change_version_state(
    state: State,
    verb: str, past: str, version: str, service_id: str | None, service_name: str | None, json_out: bool
) -> None:
    """activate / deactivate / lock: resolve the version, call ``api.<verb>_version``, report the result."""
    out = state.out
    api = state.api(writes=True)
    sid, v = service_and_version(out, api, service_id, service_name, version)
    done = getattr(api, f"{verb}_version")(sid, v.number)
    if json_out:
        out.emit_json(version_json(done))
    else:
        out.success(f"{past} service {sid} version {done.number}")
