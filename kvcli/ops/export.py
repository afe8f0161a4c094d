"""Export as an operation: an :class:`ExportRequest` in, an :class:`~kvcli.bulk.export.ExportReport` out.

Where the export goes, and how it is committed, is decided here once for the CLI and the library: a file is written
as ``PATH.partial`` and renamed into place only when the export completed (a failure or an interrupt removes the
partial file, so PATH never holds half an export); a directory (``format="dir"``) gets one file per key; a stream
(text or binary) is written as the export goes and left open. Values are fetched with up to ``concurrency``
requests in flight, capped by the backend's declared limits.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, cast

from kvcli.api.errors import InvalidInput
from kvcli.api.port import limits_of
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.bulk.export import ExportReport

#: values fetched at once over a backend that takes several requests in flight
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    """What to export and where: ``path`` (a file, or the directory of ``format="dir"``) or ``stream``."""

    format: str = "ndjson"
    prefix: str | None = None
    path: str | os.PathLike[str] | None = None
    stream: IO[str] | IO[bytes] | None = None
    concurrency: int = DEFAULT_CONCURRENCY


def check_format(fmt: object) -> str:
    """The export format named by ``fmt`` (case and surrounding blanks ignored); InvalidInput if there is none."""
    from kvcli.bulk.export import EXPORT_FORMATS

    name = fmt.strip().lower() if isinstance(fmt, str) else None
    if name not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}", f"use one of: {', '.join(EXPORT_FORMATS)}",
                           reason="unknown_export_format")
    assert name is not None
    return name


def run_export(
    api: KVApi, store_id: str, request: ExportRequest, *, on_progress: Callable[[ExportReport], None] | None = None
) -> ExportReport:
    """Export every item (under ``request.prefix``); the report (items that could not be exported are in it). A
    KeyboardInterrupt or an error that stops the listing propagates, with a file's partial output removed."""
    from kvcli.bulk import export as ex

    fmt = check_format(request.format)
    if request.concurrency < 1:
        raise InvalidInput(f"concurrency must be at least 1 (got {request.concurrency})", reason="not_positive",
                           facts={"field": "concurrency", "value": request.concurrency})
    if (request.path is None) == (request.stream is None):
        raise InvalidInput("an export writes to exactly one of path or stream", reason="export_target")
    if fmt == "dir" and request.path is None:
        raise InvalidInput("format='dir' needs a directory path, not a stream", reason="dir_needs_path")
    concurrency = limits_of(api).concurrency(request.concurrency)

    def run(writer: object) -> ExportReport:
        return ex.export(api, store_id, writer, fmt=fmt, prefix=request.prefix, concurrency=concurrency,
                         on_progress=on_progress)

    writers = {"ndjson": ex.NdjsonWriter, "viceroy": ex.ViceroyWriter, "wrangler": ex.WranglerWriter}
    if fmt == "dir":
        root = os.fspath(cast("str | os.PathLike[str]", request.path))
        if os.path.exists(root) and not os.path.isdir(root):
            raise InvalidInput(f"{root} exists and is not a directory", "pass a directory, or a new path",
                               reason="export_not_a_directory")
        dir_writer = ex.DirWriter(root)
        try:
            return run(dir_writer)
        finally:
            dir_writer.close()
    if request.path is not None:
        return _to_file(os.fspath(request.path), lambda fh: run(writers[fmt](fh)))
    if isinstance(request.stream, io.TextIOBase):
        stream = cast(IO[str], request.stream)
        report = run(writers[fmt](stream))
        stream.flush()
        return report
    text = io.TextIOWrapper(cast(IO[bytes], request.stream), encoding="utf-8", newline="\n")
    try:
        report = run(writers[fmt](text))
        text.flush()
    finally:
        text.detach()  # the caller's stream stays open
    return report


def _to_file(final: str, write: Callable[[IO[str]], ExportReport]) -> ExportReport:
    """Write into ``final.partial``; rename it to ``final`` once ``write`` returned, remove it if it raised."""
    partial = f"{final}.partial"
    try:
        fh = open(partial, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(f"cannot write {final}: {exc.strerror}", "check that its directory exists and is writable",
                           reason="cannot_write") from None
    ok = False
    try:
        report = write(fh)
        ok = True
    finally:
        fh.close()
        if ok:
            os.replace(partial, final)
        else:
            try:
                os.unlink(partial)
            except OSError:
                pass
    return report
