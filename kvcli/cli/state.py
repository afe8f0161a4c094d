"""Per-invocation state (the global flags) and the output helpers every command uses.

stdout carries data only (tables, JSON, values); messages, warnings and errors go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from kvcli.api.errors import KvcliError, UsageError
from kvcli.cli.tables import KEEP_WHOLE, _box_table, _column_widths, _table_width, _visible, _write_plain  # noqa: F401
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time


@dataclass
class Output:
    """How one invocation prints: made once from the global flags (root callback or fast path) and passed to
    whatever prints. Nothing about output lives at module level: two Outputs in one process each keep their own.

    ``colour`` None decides per line (NO_COLOR, TERM=dumb, whether stderr is a terminal); True/False forces it.
    """

    quiet: bool = False
    verbose: bool = False
    colour: bool | None = None
    stdout: IO[str] = field(default_factory=lambda: sys.stdout, repr=False)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr, repr=False)

    def paint(self, code: str, text: str) -> str:
        if self.colour is False or (self.colour is None and not default_colour(self.stderr)):
            return text
        return f"\x1b[{code}m{text}\x1b[0m"

    # ------------------------------------------------------------------ stderr
    def write_line(self, text: str) -> None:
        """One line on stderr exactly as given (callers make it :func:`safe`; it may hold kvcli's own colours)."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def err(self, text: str) -> None:
        self.write_line(safe(text))

    def message(self, text: str) -> None:
        """An informational line on stderr, silenced by -q."""
        if not self.quiet:
            self.err(text)

    def success(self, text: str) -> None:
        if not self.quiet:
            self.write_line(self.paint("1;32", "SUCCESS:") + " " + safe(text))

    def warning(self, text: str) -> None:
        if not self.quiet:
            self.write_line(self.paint("1;33", "WARNING:") + " " + safe(text))

    # ------------------------------------------------------------------ stdout
    def emit_json(self, obj: Any) -> None:
        self.stdout.write(dumps(obj))
        self.stdout.flush()

    def emit_ndjson(self, items: list[Any]) -> None:
        import json

        for item in items:
            self.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.stdout.flush()

    def console(self):
        """A rich Console on stdout (imported lazily: only table-printing commands pay for rich)."""
        from rich.console import Console

        return Console(
            file=self.stdout,
            # at a terminal its width; a forced table into a pipe honours $COLUMNS, else 200 columns
            width=None if stdout_is_tty() or os.environ.get("COLUMNS") else 200,
            no_color=bool(os.environ.get("NO_COLOR")),
            highlight=False,
            soft_wrap=False,
        )

    def print_table(
        self, columns: list[str], rows: list[list[str]], title: str | None = None, *, fmt: str | None = None
    ) -> None:
        """A listing in ``fmt`` (table or plain; default by :func:`output_format`). A table keeps every cell on one
        line when the terminal is wide enough, else wraps only the columns outside KEEP_WHOLE, and only between
        words; when even that does not fit, each row becomes a key/value record."""
        fmt = fmt or output_format(None)
        if fmt != "table":
            _write_plain(self.stdout, rows)
            return
        from rich.text import Text

        con = self.console()
        keep = {i for i, c in enumerate(columns) if c in KEEP_WHOLE}
        for whole in (set(range(len(columns))), keep):
            if _table_width(columns, rows, whole) <= con.width:
                con.print(_box_table(columns, rows, title, whole, con.width))
                return
        if title:
            con.print(Text(title, style="italic"))
        for n, row in enumerate(rows):
            if n:
                self.stdout.write("\n")
            self.print_fields(list(zip(columns, row, strict=True)), fmt="table")

    def print_fields(self, pairs: list[tuple[str, str]], title: str | None = None, *, fmt: str | None = None) -> None:
        """A record: aligned ``label  value`` lines at a terminal (values never cut; the terminal wraps a long
        one), ``label<TAB>value`` lines otherwise. Values are plain text (no markup)."""
        fmt = fmt or output_format(None)
        out = self.stdout
        if fmt != "table":
            _write_plain(out, [[k, v] for k, v in pairs])
            return
        width = max((len(k) for k, _ in pairs), default=0)
        bold = not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb" and stdout_is_tty()
        if title:
            out.write(title + "\n")
        for k, v in pairs:
            label = f"\x1b[1m{k}\x1b[0m" if bold else k
            out.write(label + " " * (width - len(k) + 2) + _visible(v) + "\n")
        out.flush()


@dataclass
class State:
    token: str | None = None
    profile: str | None = None
    endpoint: str | None = None
    local: bool = False
    auto_yes: bool = False
    non_interactive: bool = False
    debug: bool = False
    #: HTTP through the light session where it reproduces httpx (set by the click-free fast path: single requests)
    light: bool = False
    out: Output = field(default_factory=Output)
    _api: Any = field(default=None, repr=False)
    _target: Any = field(default=None, repr=False)
    _announced: bool = field(default=False, repr=False)

    @staticmethod
    def of(ctx: Any) -> State:
        """The state a command runs with: the one its root callback put in the click context (``ctx.obj``). A
        command gets it once, at its top, and passes it (or its :class:`Output`) down."""
        state = ctx.find_root().obj
        if not isinstance(state, State):
            raise RuntimeError("no State in the click context: the command did not run under kvcli's root")
        return state

    @property
    def quiet(self) -> bool:
        return self.out.quiet

    @property
    def verbose(self) -> bool:
        return self.out.verbose

    @classmethod
    def from_flags(
        cls,
        *,
        token: str | None = None,
        profile: str | None = None,
        endpoint: str | None = None,
        local: bool = False,
        auto_yes: bool = False,
        non_interactive: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        debug_mode: bool = False,
    ) -> State:
        """The state for the root's global flags (the root callback and the fast path both build it here)."""
        if verbose and quiet:
            raise UsageError("--verbose and --quiet cannot be combined", "use one of them")
        return cls(
            token=token,
            profile=profile,
            endpoint=endpoint,
            local=local,
            auto_yes=auto_yes or non_interactive,
            non_interactive=non_interactive,
            out=Output(quiet=quiet, verbose=verbose),
            debug=debug_mode or os.environ.get("FASTLY_DEBUG_MODE", "").lower() == "true",
        )

    # ------------------------------------------------------------------ backend
    def target(self):
        if self._target is None:
            from kvcli.config import resolve_target
            from kvcli.redact import add_secret, url_secrets

            target = resolve_target(local=self.local, token=self.token, endpoint=self.endpoint, profile=self.profile)
            for secret in (target.token, *url_secrets(target.endpoint or "")):
                add_secret(secret)  # whatever kvcli prints from now on is redacted of it
            self._target = target
        return self._target

    def api(self, *, writes: bool = False):
        """The adapter for this invocation (created once).

        ``writes`` announces the backend on stderr (unless -q); with -v every command announces it, and so does a
        read at a terminal when an environment variable chose the backend (an exported FASTLY_API_TOKEN must not
        make production look local).
        """
        if self._api is None:
            from kvcli.config import make_api

            target = self.target()
            options = {"debug": self.debug, **({"light": True} if self.light else {})} if target.kind == "http" else {}
            self._api = make_api(target, **options)
        if writes or self.verbose or (chosen_by_environment(self.target().source) and stderr_is_tty()):
            self.announce_backend()
        return self._api

    def announce_backend(self) -> None:
        if not self._announced and not self.quiet:
            self._announced = True
            self.out.message(f"Using {self.target().describe()}")

    def close(self) -> None:
        if self._api is not None:
            try:
                self._api.close()
            finally:
                self._api = None

    # ----------------------------------------------------------------- prompts
    def confirm(self, warning: str, question: str = "Are you sure you want to continue?") -> bool:
        """Ask before a destructive action. -y/-i answer yes; with no terminal and no -y it is an error."""
        if self.auto_yes or self.non_interactive:
            return True
        if not stdin_is_tty():
            raise UsageError(
                f"{warning} — refusing without confirmation because stdin is not a terminal",
                "pass -y/--auto-yes to confirm",
            )
        stderr = self.out.stderr
        self.out.err(f"WARNING: {warning}")
        stderr.write(f"{question} [y/N]: ")
        stderr.flush()
        line = sys.stdin.readline()
        if not line.endswith("\n"):  # end of input (Ctrl-D): the terminal echoed no newline after the question
            stderr.write("\n")
        return line.strip().lower() in ("y", "yes")

    def confirm_or_cancel(self, warning: str, question: str = "Are you sure you want to continue?") -> None:
        """The one way a command asks before a destructive action: yes returns; no (or end of input) ends the command
        here with one line saying nothing was changed, and exit 0 (README: answering no is not an error)."""
        if self.confirm(warning, question):
            return
        self.out.message(CANCELLED)
        import click

        raise click.exceptions.Exit(0)


CANCELLED = "Cancelled: nothing was changed."



# ---------------------------------------------------------------------------------------------------- output
def default_colour(stream: IO[str]) -> bool:
    """Whether lines on ``stream`` are coloured when nothing forces it: a terminal, no NO_COLOR, TERM not dumb."""
    return not os.environ.get("NO_COLOR") and stream.isatty() and os.environ.get("TERM") != "dumb"


def safe(text: str, *, keep_lines: bool = True) -> str:
    """``text`` as kvcli may show it: secrets redacted, control characters (from a server, a key) made visible."""
    from kvcli.redact import safe as make_safe

    return make_safe(text, keep_lines=keep_lines)


def error_line(exc: KvcliError, out: Output | None = None) -> str:
    """The ``Error: ...`` line for ``exc`` (coloured as ``out`` says; the error boundary, which may run before any
    Output exists, passes none and gets stderr's default)."""
    message, hint = exc.message, exc.hint
    if exc.reason is not None:  # the library's words for something a flag fixes: the CLI's own (kvcli.cli.hints)
        from kvcli.cli.hints import worded

        message, hint = worded(exc)
    text = message.rstrip(".")
    if hint:
        text += f" (hint: {hint})"
    return (out or Output()).paint("1;31", "Error:") + " " + safe(text, keep_lines=False)


def dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


ENVIRONMENT_SOURCES = ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "KVCLI_PROFILE=")


def chosen_by_environment(source: str) -> bool:
    """Whether resolve_target's ``source`` is an environment variable (not a flag, a profile or the default)."""
    return source.startswith(ENVIRONMENT_SOURCES)


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


# ------------------------------------------------------------------------------------- listings and records
# The one output rule (docs/scripting.md): at a terminal a listing is a table and a record an aligned key/value
# panel; when stdout is not a terminal both are "plain": one line per row (a record: one ``label<TAB>value`` line
# per field), fields separated by one tab, no header line, no padding, no box drawing. Tabs and line breaks inside
# a value are written as \t, \n and \r so every row stays one line.
OUTPUT_FORMATS = ("table", "plain", "json", "ndjson")



def output_format(choice: str | None, json_out: bool = False) -> str:
    """The format a listing is printed in: --json, else --output-format, else table at a terminal, plain otherwise."""
    if json_out and choice not in (None, "json"):
        raise UsageError(f"--json and --output-format {choice} cannot be combined", "use one of them")
    if json_out:
        return "json"
    return choice or ("table" if stdout_is_tty() else "plain")
