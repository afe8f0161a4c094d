"""What the bulk commands (import, export, sync) share on the terminal: the progress line, SIGTERM handled like
Ctrl-C, byte counts for humans, and the check of a count flag. Rich is imported only when a progress line is shown.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

from kvcli.api.errors import UsageError
from kvcli.cli.state import State


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    """A rich progress line on stderr (entries, bytes, rate, ETA), shown only on a terminal and without -q."""

    def __init__(self, description: str, total: int | None, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[entries]}"),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._task = self._progress.add_task(description, total=total, entries="")
        self._progress.start()

    def update(self, completed: int, entries: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, entries=entries)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_enabled(state: State) -> bool:
    if state.quiet or os.environ.get("KVCLI_NO_PROGRESS"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while a bulk command runs, so progress is recorded before exiting."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be at least 1 (got {value})", f"pass {name} 1 or more")
