"""``kv-store-entry export``: flags → :class:`kvcli.ops.export.ExportRequest`, the operation, the report rendered.

Importing this module registers the command on the ``kv-store-entry`` app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kvcli.api.errors import PartialFailure, UsageError
from kvcli.cli.bulk_progress import Progress, human_bytes, positive, progress_enabled, sigterm_as_interrupt
from kvcli.cli.numbers import count
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State
from kvcli.formats import export_help

EXPORT_DEFAULT_CONCURRENCY = 16  # kvcli.ops.export.DEFAULT_CONCURRENCY, written here so --help needs no import


# ------------------------------------------------------------------------------------------------------ export
def export_cmd(
    ctx: typer.Context,
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only export keys starting with this prefix.", show_default=False)
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help=export_help() + ".", metavar="FORMAT"),
    ] = "ndjson",
    output: Annotated[
        str | None,
        typer.Option("--output", "-O", help="Write to this file (a directory for --format dir) instead of stdout.",
                     metavar="PATH", show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Values fetched at once over HTTP.", metavar="N")
    ] = EXPORT_DEFAULT_CONCURRENCY,
    json_out: JsonOpt = False,
) -> int:
    """Export every entry of a store (or of a prefix) with values, metadata and TTLs.

    The default NDJSON output is Fastly's batch format: 'export | create --stdin' copies or restores a store.

    Example: kvcli kv-store-entry export --store-name prod -O backup.ndjson
    """
    state = State.of(ctx)
    out = state.out
    from kvcli.ops import export as op

    fmt = op.check_format(fmt)
    positive("--concurrency", concurrency)
    if fmt == "dir" and output is None:
        raise UsageError("--format dir needs --output DIRECTORY", "pass the directory to write the files into")
    if json_out and output is None:
        raise UsageError("--json needs --output (the export itself goes to stdout)", "pass -O FILE")
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    if output is None:
        sys.stdout.flush()
        request = op.ExportRequest(format=fmt, prefix=prefix, stream=sys.stdout.buffer, concurrency=concurrency)
    else:
        request = op.ExportRequest(format=fmt, prefix=prefix, path=output, concurrency=concurrency)

    show = progress_enabled(state)
    bar = Progress("Exporting", None, show)

    def on_progress(report) -> None:
        bar.update(report.bytes, f"{report.exported:,} entries")

    try:
        with sigterm_as_interrupt():
            report = op.run_export(api, sid, request, on_progress=on_progress if show else None)
    except KeyboardInterrupt:
        from kvcli.api.errors import Interrupted

        raise Interrupted("export interrupted", "nothing was kept; run the export again") from None
    finally:
        bar.stop()
    from kvcli.cli.hints import EXPORT_DETAILS

    for e in report.errors:  # the report's details in the CLI's words
        e["detail"] = EXPORT_DETAILS.get(e.get("code", ""), e["detail"])
    summary = {"store_id": sid, "output": output, **report.to_json()}
    if json_out:
        out.emit_json(summary)
    else:
        for e in report.errors[:50]:
            out.err(f"not exported: {e['key']!r}: {e['detail']}")
    dropped, lost = [], []
    for n, what in ((report.dropped_metadata, "metadata"), (report.dropped_ttl, "expiry")):
        if n:
            lost.append(what)
            dropped.append(f"{count(n, 'item')} without {'its' if n == 1 else 'their'} {what}")
    if dropped:
        out.warning(f"the {fmt} format cannot hold {' or '.join(lost)}: exported {' and '.join(dropped)} (keys and "
                    "values are all in the export; --format ndjson keeps everything)")
    out.message(
        f"Export summary: exported {report.exported:,}, failed {report.failed:,}"
        + (f", vanished while exporting {report.vanished:,}" if report.vanished else "")
        + f"; {human_bytes(report.bytes)} in {report.elapsed:.2f}s"
    )
    if not report.ok:
        raise PartialFailure(
            f"export incomplete: {count(report.failed, 'entry')} could not be exported",
            "see the errors above" + ("; --format ndjson can hold any key and value" if fmt != "ndjson" else ""),
            summary=summary,
        )
    return 0


