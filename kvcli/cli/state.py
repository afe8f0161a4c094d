"""Per-invocation state (the global flags) and the output helpers every command uses.

stdout carries data only (tables, JSON, values); messages, warnings and errors go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kvcli.api.errors import KvcliError, UsageError
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time


@dataclass
class State:
    token: str | None = None
    profile: str | None = None
    endpoint: str | None = None
    local: bool = False
    auto_yes: bool = False
    non_interactive: bool = False
    quiet: bool = False
    verbose: bool = False
    debug: bool = False
    _api: Any = field(default=None, repr=False)
    _target: Any = field(default=None, repr=False)
    _announced: bool = field(default=False, repr=False)

    @staticmethod
    def current() -> State:
        import click

        ctx = click.get_current_context(silent=True)
        root = ctx.find_root() if ctx else None
        if root is not None and isinstance(root.obj, State):
            return root.obj
        return _fallback

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
            options = {"debug": self.debug} if target.kind == "http" else {}
            self._api = make_api(target, **options)
        if writes or self.verbose or (chosen_by_environment(self.target().source) and stderr_is_tty()):
            self.announce_backend()
        return self._api

    def announce_backend(self) -> None:
        if not self._announced and not self.quiet:
            self._announced = True
            message(f"Using {self.target().describe()}")

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
        err(f"WARNING: {warning}")
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line.endswith("\n"):  # end of input (Ctrl-D): the terminal echoed no newline after the question
            sys.stderr.write("\n")
        return line.strip().lower() in ("y", "yes")

    def confirm_or_cancel(self, warning: str, question: str = "Are you sure you want to continue?") -> None:
        """The one way a command asks before a destructive action: yes returns; no (or end of input) ends the command
        here with one line saying nothing was changed, and exit 0 (README: answering no is not an error)."""
        if self.confirm(warning, question):
            return
        message(CANCELLED)
        import click

        raise click.exceptions.Exit(0)


CANCELLED = "Cancelled: nothing was changed."

_fallback = State()


# ---------------------------------------------------------------------------------------------------- output
def _color(code: str, text: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def safe(text: str, *, keep_lines: bool = True) -> str:
    """``text`` as kvcli may show it: secrets redacted, control characters (from a server, a key) made visible."""
    from kvcli.redact import safe as make_safe

    return make_safe(text, keep_lines=keep_lines)


def write_line(text: str) -> None:
    """One line on stderr exactly as given (callers make it :func:`safe`; it may hold kvcli's own colours)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def err(text: str) -> None:
    write_line(safe(text))


def message(text: str) -> None:
    """An informational line on stderr, silenced by -q."""
    if not State.current().quiet:
        err(text)


def success(text: str) -> None:
    if not State.current().quiet:
        write_line(_color("1;32", "SUCCESS:") + " " + safe(text))


def warning(text: str) -> None:
    if not State.current().quiet:
        write_line(_color("1;33", "WARNING:") + " " + safe(text))


def error_line(exc: KvcliError) -> str:
    text = exc.message.rstrip(".")
    if exc.hint:
        text += f" (hint: {exc.hint})"
    return _color("1;31", "Error:") + " " + safe(text, keep_lines=False)


def dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def emit_json(obj: Any) -> None:
    out = sys.stdout
    out.write(dumps(obj))
    out.flush()


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


def console():
    """A rich Console on stdout (imported lazily: only table-printing commands pay for rich)."""
    from rich.console import Console

    return Console(
        file=sys.stdout,
        width=None if stdout_is_tty() else 200,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=False,
    )


def print_table(columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def print_fields(pairs: list[tuple[str, str]], title: str | None = None) -> None:
    """A key/value panel."""
    from rich.table import Table

    table = Table(show_header=False, title=title, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in pairs:
        table.add_row(k, v)
    console().print(table)
