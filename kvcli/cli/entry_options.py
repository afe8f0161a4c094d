"""The options the ``kv-store-entry`` commands share (``--key``, ``--if-generation-match``, ``--keys-file``, …).

The commands' modules import them from here, never from the group (:mod:`kvcli.cli.kv_store_entry`), which imports
no command.
"""

from typing import Annotated

import typer

from kvcli.cli import complete, core

KeyOpt = Annotated[
    str | None, typer.Option("--key", "-k", help="The key.", autocompletion=complete.keys, show_default=False)
]
GenerationOpt = Annotated[
    int | None,
    typer.Option(
        "--if-generation-match",
        help="Only act if the key's current generation is N (0 = the key must not exist).",
        callback=lambda v: _uint64(v),
        metavar="N",
        show_default=False,
    ),
]


KeysFileOpt = Annotated[
    str | None,
    typer.Option(
        "--keys-file", help="Read many keys, one per line, from this file ('-': stdin); print NDJSON, one object per "
        "key, in input order.", metavar="PATH", show_default=False,
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency", help="With --keys-file: requests in flight over HTTP (default 16).", metavar="N",
        show_default=False,
    ),
]


def _uint64(value: int | None) -> int | None:
    problem = core.generation_problem(value)  # the fast path (kvcli.cli.fast) checks with the same function
    if problem:
        raise typer.BadParameter(problem)
    return value
