"""Pieces of commands that must not import Typer or click, shared by the full CLI and the fast entry point.

:mod:`kvcli.entry` runs the common embedded ``kv-store-entry get`` without building the Typer app; it and the Typer
command call the same :func:`get_entry`, and both report errors through :func:`report_error`, so their output and
exit codes cannot drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from kvcli.api.errors import KvcliError, PreconditionFailed, UsageError
from kvcli.cli import exits
from kvcli.cli.closing import finish, silence_stdout
from kvcli.cli.state import Output, error_line, stdout_is_tty

UINT64_MAX = 2**64 - 1

__all__ = [
    "check_generation",
    "emit_json_line",
    "finish",
    "generation_problem",
    "get_entry",
    "human_time",
    "report_error",
    "require_key",
    "resolve_store_id",
    "rfc3339",
    "silence_stdout",
    "store_label",
]


def require_key(key: str | None) -> str:
    if key is None:
        raise UsageError("no key given", "pass -k/--key KEY")
    if key == "":
        raise UsageError("the key is empty", "pass a non-empty -k/--key")
    return key


def resolve_store_id(api, store_id: str | None, store_name: str | None) -> str:
    """The store ID from --store-id, or looked up from --store-name; exactly one is required."""
    if store_id and store_name:
        raise UsageError("pass either --store-id or --store-name, not both", "drop one of them")
    if store_id:
        return store_id
    if store_name:
        return api.find_store(store_name).id
    raise UsageError("no store given", "pass --store-id ID or --store-name NAME")


def rfc3339(dt) -> str | None:
    if dt is None:
        return None
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_time(dt) -> str:
    if dt is None:
        return "-"
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")  # the header says (UTC), once


def store_label(store_id: str, store_name: str | None = None) -> str:
    """How messages name a store: ``'NAME' (ID)`` when the user named it, else ``'ID'`` (the official CLI's form)."""
    return f"'{store_name}' ({store_id})" if store_name else f"'{store_id}'"


def generation_problem(value: int | None) -> str | None:
    """Why ``--if-generation-match`` cannot take ``value`` (None if it can): the Typer callback and the fast path."""
    if value is not None and not 0 <= value <= UINT64_MAX:
        return f"{value} is not a generation (a whole number from 0 to {UINT64_MAX})"
    return None


def check_generation(key: str, current: int, expected: int) -> None:
    if current != expected:
        raise PreconditionFailed(
            f"generation mismatch for key {key!r}: you asked for generation {expected}, the current generation is "
            f"{current}",
            "re-read the key, or drop --if-generation-match",
        )


def emit_json_line(obj: Any) -> None:
    """One-line JSON (the official `get --json` shape), always valid whatever the key."""
    import json

    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def get_entry(
    open_api: Callable[[], Any],
    *,
    store_id: str | None,
    store_name: str | None,
    key: str | None,
    if_generation_match: int | None,
    json_out: bool,
) -> None:
    """`kv-store-entry get`: print one value's raw bytes (or ``{"key": "<base64>"}``); errors are raised.

    At a terminal a value that does not end a line gets a newline, so the shell prompt is not glued to it; anything
    else (a pipe, a file) gets exactly the value's bytes.

    ``open_api`` is called only once the key is known to be usable, so a missing key is reported before the backend
    is opened, whichever entry point runs this.
    """
    key = require_key(key)
    api = open_api()
    sid = resolve_store_id(api, store_id, store_name)
    if if_generation_match is not None:
        # checked before the download (describe reads no value), and again on what was downloaded
        check_generation(key, api.describe_item(sid, key).generation, if_generation_match)
    item = api.get_item(sid, key)
    if if_generation_match is not None:
        check_generation(key, item.info.generation, if_generation_match)
    if json_out:
        import base64

        emit_json_line({key: base64.b64encode(item.value).decode("ascii")})
        return
    sys.stdout.flush()
    out = sys.stdout.buffer
    view = memoryview(item.value)
    while view:  # an unbuffered stdout (python -u, PYTHONUNBUFFERED) may take only part of it, e.g. a closing pipe
        written = out.write(view)
        view = view[written if written is not None else 0 :]
    if item.value and not item.value.endswith(b"\n") and stdout_is_tty():
        out.write(b"\n")  # a terminal only, so the prompt starts on its own line; a pipe gets the exact bytes
    out.flush()


# ------------------------------------------------------------------------------------------------- error boundary
def report_error(exc: BaseException, *, debug: bool = False) -> int:
    """Report an error that is not click's: one line on stderr (a traceback too with ``debug``); the exit code."""
    out = Output()  # the error boundary: the process's stderr, whatever the flags
    if isinstance(exc, KvcliError):
        _traceback(exc, debug)
        out.write_line(error_line(exc))
        return exits.exit_code_for(exc)
    if isinstance(exc, KeyboardInterrupt):
        out.err("Interrupted.")
        return exits.INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        silence_stdout()
        return exits.CLOSED_PIPE
    if isinstance(exc, OSError):  # the environment, not kvcli: unreadable or full disk, missing permissions
        _traceback(exc, debug)
        where = f": {exc.filename}" if exc.filename else ""
        out.err(f"Error: {exc.strerror or exc}{where} (hint: check the path, its permissions and free space)")
        return exits.ERROR
    # the last line of defence: no traceback, no locals
    _traceback(exc, debug)
    detail = " ".join(str(exc).split())
    out.err(
        f"Error: internal error: {type(exc).__name__}: {detail} "
        "(hint: re-run with --debug-mode for a traceback and report it as a bug)"
    )
    return exits.ERROR


def _traceback(exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        from kvcli.redact import safe

        sys.stderr.write(safe("".join(traceback.format_exception(exc)), keep_lines=True))
        sys.stderr.flush()
