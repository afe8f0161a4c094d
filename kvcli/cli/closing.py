"""How a kvcli process ends: flush stdout and exit, quietly when the reader went away.

Shared by the console script (:mod:`kvcli.entry`), the full CLI (:mod:`kvcli.cli.main`) and the error boundary
(:mod:`kvcli.cli.core`); it imports nothing of kvcli's, so all of them can use it without importing each other.
"""

from __future__ import annotations

import sys


def silence_stdout() -> None:
    """Point stdout at /dev/null (after a broken pipe, so the interpreter's final flush cannot fail again)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def finish(code: int) -> None:
    """Flush stdout and exit (never returns) with ``code`` (141 if the reader went away during the flush).

    After an interrupted import that left requests in flight (its summary names them), the process exits at once
    rather than join their threads, which would wait for the network.
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        code = code or 141
    interrupts = sys.modules.get("kvcli.bulk.interrupts")  # not imported just for this
    if interrupts is not None and interrupts.abandoned_threads:
        import os

        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)
