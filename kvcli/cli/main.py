"""The root command: global flags, lazy loading of command groups, and the one error → exit code boundary."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from kvcli import __version__
from kvcli.cli import _fastspec, complete, exits
from kvcli.cli.lazy import lazy_group
from kvcli.cli.state import Output, State

# command name -> (module, attribute); modules are imported only when their command runs
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "kv-store": ("kvcli.cli.kv_store", "app"),
    "kv-store-entry": ("kvcli.cli.kv_store_entry", "app"),
    "profile": ("kvcli.cli.profile", "app"),
    "local": ("kvcli.cli.local_cmd", "app"),
    "resource-link": ("kvcli.cli.resource_link", "app"),
    "service": ("kvcli.cli.service", "app"),
    "ui": ("kvcli.cli.ui_cmd", "app"),
}
#: alias -> command name: the one alias mechanism of every group (kvcli.cli.lazy); never listed in --help
ALIASES: dict[str, str] = {"object-store": "kv-store"}

app = typer.Typer(
    cls=lazy_group(LAZY_COMMANDS, aliases=ALIASES),
    name="kvcli",
    help="Manage Fastly KV stores, entries and resource links — on Fastly or on an embedded local backend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"kvcli {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    token: Annotated[
        str | None,
        typer.Option("--token", "-t", help="Fastly API token, or the name of a stored profile.", show_default=False),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-o", help="Use this profile.", autocompletion=complete.profile_names, show_default=False
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", "--api", help="API endpoint URL (e.g. a 'kvcli local serve' URL).", show_default=False
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Use the embedded local backend.")] = False,
    auto_yes: Annotated[bool, typer.Option("--auto-yes", "-y", help="Answer yes to confirmation prompts.")] = False,
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", "-i", help="Never prompt (implies --auto-yes).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print command output and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Verbose output.")] = False,
    debug_mode: Annotated[
        bool, typer.Option("--debug-mode", help="Print each API request and response to stderr (token redacted).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """Global flags may be given before or after the subcommand, as with the official Fastly CLI."""
    ctx.obj = State.from_flags(
        token=token,
        profile=profile,
        endpoint=endpoint,
        local=local,
        auto_yes=auto_yes,
        non_interactive=non_interactive,
        quiet=quiet,
        verbose=verbose,
        debug_mode=debug_mode,
    )
    ctx.call_on_close(ctx.obj.close)


# ------------------------------------------------------------------------------------------ global flag hoisting
# the global options as the root callback declares them, from the spec the fast path reads too (kvcli.cli._fastspec,
# generated from `root` above by scripts/gen_fastpath.py): one declaration for both pre-parsers
_GLOBAL_FLAGS = {opt for opt, (_, kind, _) in _fastspec.GLOBALS.items() if kind == "flag"}
_GLOBAL_VALUED = {opt for opt, (_, kind, _) in _fastspec.GLOBALS.items() if kind != "flag"}
_SHORT_BOOL = {opt[1] for opt in _GLOBAL_FLAGS if len(opt) == 2}


def _find_option(cmd: click.Command, name: str) -> click.Option | None:
    for p in cmd.params:
        if isinstance(p, click.Option) and (name in p.opts or name in p.secondary_opts):
            return p
    return None


def hoist_globals(argv: list[str], root_cmd: click.Command) -> list[str]:
    """Move global flags found after a subcommand to the front, so `kvcli kv-store list -q` works.

    The subcommand's own options win over global ones, and values of options that take one are never mistaken
    for flags.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    cmd = root_cmd
    ctx = click.Context(root_cmd, info_name="kvcli", resilient_parsing=True)
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest.extend(argv[i:])
            break
        if tok.startswith("-") and tok != "-":
            name = tok.split("=", 1)[0] if tok.startswith("--") else tok[:2]
            own = _find_option(cmd, name) if cmd is not root_cmd else None
            if own is None and cmd is not root_cmd:
                if tok in _GLOBAL_FLAGS:
                    hoisted.append(tok)
                    i += 1
                    continue
                if name in _GLOBAL_VALUED:
                    glued = "=" in tok or (not tok.startswith("--") and len(tok) > 2)
                    take = 1 if glued else 2
                    hoisted.extend(argv[i : i + take])
                    i += take
                    continue
                if not tok.startswith("--") and len(tok) > 2 and set(tok[1:]) <= _SHORT_BOOL:
                    hoisted.append(tok)
                    i += 1
                    continue
            rest.append(tok)
            opt = own if own is not None else _find_option(cmd, name)
            takes_value = isinstance(opt, click.Option) and not opt.is_flag and not opt.count
            glued = "=" in tok or (not tok.startswith("--") and len(tok) > 2)
            if takes_value and not glued and i + 1 < len(argv):
                rest.append(argv[i + 1])
                i += 2
                continue
            i += 1
            continue
        if isinstance(cmd, click.Group):
            try:
                sub = cmd.get_command(ctx, tok)
            except Exception:  # noqa: BLE001 - click reports it properly when it parses for real
                sub = None
            if sub is not None:
                cmd = sub
        rest.append(tok)
        i += 1
    return hoisted + rest




def _closed_pipe(exc: BaseException) -> bool:
    """Whether this exit is click's or rich's answer to a closed stdout (both exit 1 while handling the EPIPE)."""
    import errno

    cause = exc.__context__
    return isinstance(cause, OSError) and (isinstance(cause, BrokenPipeError) or cause.errno == errno.EPIPE)


def get_root_command() -> click.Command:
    return typer.main.get_command(app)


def run(argv: list[str]) -> int:
    """Run kvcli with ``argv``; return the exit code. Expected errors print one line on stderr, no traceback."""
    from kvcli.cli.core import report_error

    root_cmd = get_root_command()
    debug = "--debug-mode" in argv
    redaction = sys.modules.get("kvcli.redact")  # not imported just for this: nothing registered yet if absent
    if redaction is not None:
        redaction.forget_secrets()  # an earlier run in this process (tests) registered its own
    try:
        argv = hoist_globals(list(argv), root_cmd)
        rv = root_cmd.main(args=argv, prog_name="kvcli", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as exc:
        # a group run without a subcommand: its help is the answer (typer's rich help is already printed)
        text = exc.format_message()
        if text.strip():
            sys.stdout.write(text + "\n")
        return exits.USAGE
    except click.UsageError as exc:
        return _usage_error(exc)
    except click.ClickException as exc:
        Output().err(f"Error: {exc.format_message()}")  # the boundary: the process's stderr, whatever -q says
        return exc.exit_code
    except click.Abort:
        Output().err("Interrupted.")
        return exits.INTERRUPTED
    except SystemExit as exc:
        if not _closed_pipe(exc):
            raise
        from kvcli.cli.closing import silence_stdout

        silence_stdout()  # what is still buffered goes nowhere, and the final flush cannot fail again
        return exits.CLOSED_PIPE
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - KvcliError, OS errors, the last line of defence
        return report_error(exc, debug=debug)  # shared with the fast entry point (kvcli.entry)


def _integer_message(exc: click.UsageError) -> str | None:
    """click's words for a bad whole-number option ("'abc' is not a valid integer range", "-5 is not in the range
    x>=1") as one sentence that names what the option expects; None for any other error."""
    import re

    param = getattr(exc, "param", None)
    kind = getattr(param, "type", None)
    if not isinstance(exc, click.BadParameter) or not isinstance(param, click.Option):
        return None
    if not isinstance(kind, click.types.IntParamType):  # click.INT and click.IntRange
        return None
    found = re.match(r"(.+?) is not (?:a valid|in the range)", exc.message)
    if found is None:
        return None
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    if low is not None and high is not None:
        bounds = f" from {low} to {high}"
    elif low is not None:
        bounds = f" of at least {low}"
    elif high is not None:
        bounds = f" of at most {high}"
    else:
        bounds = ""
    metavar = param.metavar or ""
    unit = f"a number of {metavar.lower()}, " if metavar.isalpha() and metavar not in ("N", "INTEGER") else ""
    name = max(param.opts, key=len)
    return f"{name} takes {unit}a whole number{bounds}: got {found.group(1)}"


def _usage_error(exc: click.UsageError) -> int:
    out = Output()  # the error boundary: the process's stderr, whatever the flags
    where = exc.ctx.command_path if exc.ctx is not None else "kvcli"
    msg = _integer_message(exc) or exc.format_message().rstrip(".")
    import re

    msg = re.sub(r"(Did you mean [^?]*\?)(\s*\1)+", r"\1", msg)  # click and typer both add the suggestion
    out.err(f"Error: {msg} (hint: see '{where} --help')")
    return exits.USAGE


def main() -> None:
    from kvcli.cli.closing import finish

    code = run(sys.argv[1:])
    finish(code)
