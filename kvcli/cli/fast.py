"""The click-free fast path: the everyday commands without importing click, typer or rich, on either backend.

Building the Typer app costs more than the rest of a start-up (typer + click alone are 50–85 ms), so the six everyday
commands (:data:`BODIES`) run here when argv holds nothing this module does not fully understand. Their options are
not declared here: ``scripts/gen_fastpath.py`` reads them from the Typer commands into :mod:`kvcli.cli._fastspec`
(a test fails when that module is stale), and one generic parser (:func:`parse`) reads argv with it. Each command's
work is one click-free function that the Typer command calls too (:mod:`kvcli.cli.entry_bodies`,
:mod:`kvcli.cli.create_body`, :mod:`kvcli.cli.store_bodies`), with the same :class:`~kvcli.cli.state.State` and the
same error boundary (:func:`kvcli.cli.core.report_error`), so output, stderr, exit codes and requests are byte for
byte the same (``tests/cli/test_fastpath_equivalence.py`` compares every option of every fast command on both
backends).

``kv-store-entry create`` takes every option here, the bulk import's too (``--file``, ``--stdin``, ``--dir`` and all
their flags: :func:`kvcli.cli.create_body.create_command`). Over HTTP the commands, a bulk import's worker threads
included, send through the light session where it reproduces httpx (docs/http.md); rich is imported only when an
import shows its progress bar (a terminal, no -q).

Anything else goes to the full CLI untouched: an option the spec does not hold (``--help``, delete's ``--prefix`` and
``--all``, a flag added since), an option given twice, a value that looks like a flag (a negative number too), a
value the option's type would refuse (click words that error), combined short flags, ``--``, an extra argument, a
set environment variable that would fill an option, shell completion, and a ``kv-store list`` that would draw a rich
table at a terminal.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kvcli.cli import _fastspec as spec

#: command path -> "module:function" run with (state, **the command's options); the Typer command calls it too
BODIES: dict[str, str] = {
    "kv-store list": "kvcli.cli.store_bodies:list_stores",
    "kv-store-entry get": "kvcli.cli.entry_bodies:get_entry",
    "kv-store-entry describe": "kvcli.cli.entry_bodies:describe_entry",
    "kv-store-entry create": "kvcli.cli.create_body:create_command",  # one key, or a bulk import
    "kv-store-entry list": "kvcli.cli.entry_bodies:list_entries",
    "kv-store-entry delete": "kvcli.cli.entry_bodies:delete_entry",
}
#: builds the State from the global options (the root callback calls it too); its parameters are the globals read here
GLOBALS_BODY = "kvcli.cli.state:State.from_flags"


def _generation(value: int) -> bool:
    from kvcli.cli.core import generation_problem

    return generation_problem(value) is None


#: option name -> whether a value is one its Typer callback accepts unchanged (the same check the callback makes);
#: an option with a callback not listed here is left out of the spec, so giving it takes the full CLI
CHECKS: dict[str, Any] = {"if_generation_match": _generation}

_BAD = object()


def _convert(kind: str, detail: Any, raw: str) -> Any:
    if kind == "str":
        return raw
    if kind == "int":
        if not (raw.isascii() and raw.isdigit()):  # click also takes "+1", " 1", "1_0": its business
            return _BAD
        value = int(raw)
        low, high = detail
        if (low is not None and value < low) or (high is not None and value > high):
            return _BAD
        return value
    if kind == "choice":
        return raw if raw in detail else _BAD
    return _BAD  # pragma: no cover - the generator writes no other kind


def parse(argv: list[str]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(command path, its options, the global options) for an argv the fast path fully understands, else None.

    Global options may come before the command, between its words or after it (as :func:`kvcli.cli.main.hoist_globals`
    allows); the command's own options only after it, and they win over a global spelled the same.
    """
    words: list[str] = []
    own: dict[str, tuple] | None = None
    entry: dict[str, dict] | None = None
    given: dict[str, Any] = {}
    glob: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if not tok.startswith("-") or tok == "-":
            if entry is not None:
                return None  # an argument the command does not take
            words.append(tok)
            path = " ".join(words)
            entry = spec.COMMANDS.get(path)
            if entry is not None:
                own = entry["options"]
            elif not any(p.startswith(path + " ") for p in spec.COMMANDS):
                return None
            continue
        if tok == "--":
            return None
        if tok.startswith("--"):
            name, eq, glued = tok.partition("=")
            has_value = bool(eq)
        else:
            name, glued = tok[:2], tok[2:]
            has_value = bool(glued)
        if own is not None and name in own:
            dest, kind, detail = own[name]
            into = given
        elif name in spec.GLOBALS:
            dest, kind, detail = spec.GLOBALS[name]
            into = glob
        else:
            return None
        if kind == "flag":
            if has_value or into.get(dest, detail) != detail:  # --json=x, -jq, or --x then --no-x
                return None
            into[dest] = detail
            continue
        if not has_value:
            if i >= len(argv) or (argv[i].startswith("-") and argv[i] != "-"):
                return None  # missing, or a value that looks like a flag
            glued = argv[i]
            i += 1
        if dest in into:
            return None  # given twice
        value = _convert(kind, detail, glued)
        if value is _BAD or (dest in CHECKS and not CHECKS[dest](value)):
            return None  # click words the error
        into[dest] = value
    if entry is None:
        return None
    for envvars in (*entry["envvars"].values(), *spec.GLOBAL_ENVVARS.values()):
        if any(os.environ.get(var) is not None for var in envvars):
            return None
    return " ".join(words), {**entry["defaults"], **given}, {**spec.GLOBAL_DEFAULTS, **glob}


def _function(ref: str) -> Any:
    import importlib

    module, name = ref.split(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def run(argv: list[str]) -> int | None:
    """Run ``argv`` without click if it is one of the fast invocations: the exit code, or None for the full CLI."""
    if os.environ.get("_KVCLI_COMPLETE"):  # shell completion is Typer's business
        return None
    parsed = parse(argv)
    if parsed is None:
        return None
    path, options, flags = parsed
    from kvcli.cli import core, exits
    from kvcli.cli.state import State, output_format

    if path == "kv-store list":
        try:
            if output_format(options["fmt"], options["json_out"]) == "table":
                return None  # a rich table at a terminal: the full CLI (the body would import rich)
        except Exception:  # noqa: BLE001 - the body reports a bad combination, as the Typer command does
            pass
    debug = "--debug-mode" in argv  # as kvcli.cli.main.run decides
    redaction = sys.modules.get("kvcli.redact")
    if redaction is not None:
        redaction.forget_secrets()  # an earlier run in this process (tests) registered its own
    state: State | None = None
    try:
        state = _function(GLOBALS_BODY)(**flags)
        state.light = True  # no httpx where the light session is exact (docs/http.md)
        code = _function(BODIES[path])(state, **options)
    except KeyboardInterrupt:
        return exits.INTERRUPTED  # as Typer's main answers Ctrl-C inside a command: exit 130, no message
    except OSError as exc:
        import errno

        if exc.errno != errno.EPIPE:
            return core.report_error(exc, debug=debug)
        core.silence_stdout()  # as kvcli.cli.main.run answers a closed pipe: quietly, exit 141
        return exits.CLOSED_PIPE
    except Exception as exc:  # noqa: BLE001 - the same boundary as kvcli.cli.main.run
        return core.report_error(exc, debug=debug)
    finally:
        if state is not None:
            state.close()
    return code if isinstance(code, int) else 0  # as kvcli.cli.main.run takes a command's return value
