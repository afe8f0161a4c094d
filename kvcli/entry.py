"""The ``kvcli`` console script: a fast path for the everyday invocations, the full Typer CLI for everything else.

Building the Typer app costs more than the rest of a start-up (importing typer and click alone is ~50 ms), so these
invocations skip it:

* ``kvcli --version``;
* the six everyday commands (``kv-store list``, ``kv-store-entry get``, ``describe``, ``create`` of one key or a bulk
  import, ``list`` and ``delete`` of one key) on either backend, when every option given is one the click-free fast path
  (:mod:`kvcli.cli.fast`) fully understands. Their options are read from the Typer commands' own declarations
  (``scripts/gen_fastpath.py`` writes :mod:`kvcli.cli._fastspec`), and each runs the same function as its Typer
  command, so output and exit codes are byte for byte the same (``tests/cli/test_fastpath_equivalence.py``).

Anything else goes to :func:`kvcli.cli.main.main` untouched.
"""

from __future__ import annotations

import sys


def run_fast(argv: list[str]) -> int | None:
    """Run ``argv`` without Typer if it is one of the fast invocations; the exit code, or None to use the full CLI."""
    if argv == ["--version"]:
        from kvcli import __version__

        sys.stdout.write(f"kvcli {__version__}\n")
        return 0
    from kvcli.cli.fast import run

    return run(argv)


# Optional packages that libraries kvcli uses import whenever they are installed, for features kvcli never uses:
# httpcore imports trio (about 100 ms) for async support, while kvcli's HTTP client is synchronous and the server runs
# on asyncio; httpx imports its own command-line tool (httpx._main: click, rich and pygments, 30-70 ms) whenever click
# is installed, which kvcli never runs. Marking them absent, in the kvcli process only, makes those imports fail fast
# as if not installed (httpx then defines a stub for its tool).
UNUSED_OPTIONAL_MODULES = ("trio", "httpx._main")


def main() -> None:
    for name in UNUSED_OPTIONAL_MODULES:  # before the fast path too: it may import httpx
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    code = run_fast(sys.argv[1:])
    if code is None:
        from kvcli.cli.main import main as full_main

        full_main()
        return
    from kvcli.cli.closing import finish  # (kvcli.cli.core's too: it must not import this module back)

    finish(code)
