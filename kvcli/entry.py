"""The ``kvcli`` console script: a fast path for the hottest invocations, the full Typer CLI for everything else.

Building the Typer app costs more than the rest of a start-up (importing typer and click alone is ~45 ms), so two
invocations skip it:

* ``kvcli --version``;
* ``kvcli kv-store-entry get`` on the embedded backend, with only the flags of ``get`` (``-s/--store-id``,
  ``--store-name``, ``-k/--key``, ``-j/--json``, ``--if-generation-match``) and the global ``-q/--quiet`` and
  ``--local``, before or after the subcommand.

The fast path runs the same code as the Typer command (:func:`kvcli.cli.core.get_entry`) and reports errors through
the same boundary (:func:`kvcli.cli.core.report_error`), so output and exit codes are byte for byte the same
(``tests/cli/test_startup_fastpath.py`` compares both). Anything else — another flag, a repeated option, a value
that looks like a flag, a target that is not the embedded backend (``--token``, ``FASTLY_API_*``, ``KVCLI_PROFILE``,
a default profile), shell completion — goes to :func:`kvcli.cli.main.main` untouched.
"""

from __future__ import annotations

import sys

UINT64_MAX = 2**64 - 1

_GET_VALUED = {
    "-s": "store_id",
    "--store-id": "store_id",
    "--store-name": "store_name",
    "-k": "key",
    "--key": "key",
    "--if-generation-match": "if_generation_match",
}
_GET_FLAGS = {"-j": "json_out", "--json": "json_out"}
_GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--local": "local"}
_COMMAND = ["kv-store-entry", "get"]


def parse_get(argv: list[str]) -> dict | None:
    """The arguments of an embedded-eligible ``kv-store-entry get``, or None when the full CLI must decide."""
    words: list[str] = []
    values: dict[str, str] = {}
    flags = {"json_out": False, "quiet": False, "local": False}
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok in _GLOBAL_FLAGS:
            flags[_GLOBAL_FLAGS[tok]] = True
            continue
        if not tok.startswith("-") or tok == "-":
            words.append(tok)
            if words != _COMMAND[: len(words)]:
                return None
            continue
        if words != _COMMAND:  # get's options only count after `kv-store-entry get`
            return None
        if tok in _GET_FLAGS:
            flags[_GET_FLAGS[tok]] = True
            continue
        if tok.startswith("--") and "=" in tok:
            name, value = tok.split("=", 1)
        elif tok in _GET_VALUED:
            if i >= len(argv) or argv[i].startswith("-"):  # missing, or a value that looks like a flag
                return None
            name, value = tok, argv[i]
            i += 1
        elif not tok.startswith("--") and tok[:2] in _GET_VALUED:  # -kKEY
            name, value = tok[:2], tok[2:]
        else:
            return None
        dest = _GET_VALUED.get(name)
        if dest is None or dest in values:  # unknown, or given twice
            return None
        values[dest] = value
    if words != _COMMAND:
        return None
    generation: int | None = None
    if "if_generation_match" in values:
        raw = values["if_generation_match"]
        if not (raw.isascii() and raw.isdigit()) or int(raw) > UINT64_MAX:
            return None  # click's parsing and message
        generation = int(raw)
    return {
        "store_id": values.get("store_id"),
        "store_name": values.get("store_name"),
        "key": values.get("key"),
        "if_generation_match": generation,
        "json_out": flags["json_out"],
        "local": flags["local"],
    }


def run_fast(argv: list[str]) -> int | None:
    """Run ``argv`` without Typer if it is one of the fast invocations; the exit code, or None to use the full CLI."""
    import os

    if os.environ.get("_KVCLI_COMPLETE"):  # shell completion is Typer's business
        return None
    if argv == ["--version"]:
        from kvcli import __version__

        sys.stdout.write(f"kvcli {__version__}\n")
        return 0
    args = parse_get(argv)
    if args is None:
        return None
    local = args.pop("local")
    try:
        from kvcli.config import make_api, resolve_target

        target = resolve_target(local=local)
    except Exception:  # noqa: BLE001 - a broken config: the full CLI reports it, in its order
        return None
    if target.kind != "local":
        return None

    from kvcli.cli import core, exits

    opened = []

    def open_api():
        api = make_api(target)
        opened.append(api)
        return api

    try:
        core.get_entry(open_api, **args)
    except KeyboardInterrupt:
        return exits.INTERRUPTED  # as Typer's main answers Ctrl-C inside a command: exit 130, no message
    except OSError as exc:
        import errno

        if exc.errno != errno.EPIPE:
            return core.report_error(exc)
        silence_stdout()  # as kvcli.cli.main.run answers a closed pipe: quietly, exit 141
        return exits.CLOSED_PIPE
    except Exception as exc:  # noqa: BLE001 - the same boundary as kvcli.cli.main.run
        return core.report_error(exc)
    finally:
        for api in opened:
            api.close()
    return 0


def silence_stdout() -> None:
    """Point stdout at /dev/null (after a broken pipe, so the interpreter's final flush cannot fail again)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def finish(code: int) -> None:
    """Flush stdout and exit (never returns) with ``code`` (141 if the reader went away during the flush)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        code = code or 141
    sys.exit(code)


# Optional packages that libraries kvcli uses import whenever they are installed, for features kvcli never uses:
# httpcore imports trio (about 100 ms) for async support, while kvcli's HTTP client is synchronous and the server runs
# on asyncio. Marking them absent, in the kvcli process only, makes those imports fail fast as if not installed.
UNUSED_OPTIONAL_MODULES = ("trio",)


def main() -> None:
    code = run_fast(sys.argv[1:])
    if code is None:
        for name in UNUSED_OPTIONAL_MODULES:
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
        from kvcli.cli.main import main as full_main

        full_main()
        return
    finish(code)
