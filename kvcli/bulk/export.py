"""Export a store (or a prefix of it) as a stream: NDJSON, Viceroy JSON, wrangler JSON, or a directory of files.

Keys are listed page by page; values are fetched with ``get_item`` — over HTTP by a thread pool with a bounded
number of requests in flight — and written in key order. Memory holds one page of keys plus the values in flight.

Formats:

* ``ndjson`` (default): Fastly's batch format (base64 value, metadata, time_to_live_sec for expiring items), so
  ``export | create --stdin`` restores the store.
* ``viceroy``: a JSON object for ``[local_server.kv_stores.<name>] = {file, format = "json"}``. Viceroy values are
  text: values that are not UTF-8 are refused (reported as failed). TTLs are dropped (Viceroy has none).
* ``wrangler``: a ``kv bulk put`` array with base64 values (``"base64": true``); metadata that is a JSON object is
  written as an object, any other metadata as a string (kvcli reads it back as is; wrangler itself wants objects).
* ``dir``: one file per key under the output directory. Keys that are not safe relative paths (empty segments,
  ``.``/``..`` segments, NUL, backslashes, a segment over 255 bytes, or a key that is also a "directory" of another
  key) are refused. Files are created without following symlinks, so nothing is ever written outside the directory.
  Metadata and TTLs are not kept.
"""

from __future__ import annotations

import base64
import json
import math
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO

from kvcli.api.errors import KvcliError, NotFound, UsageError
from kvcli.api.models import Item
from kvcli.api.port import iter_keys
from kvcli.formats import EXPORT_FORMATS  # noqa: F401 - the one list of export formats
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time
from kvcli.threads import Future, worker_pool

MAX_REPORTED_ERRORS = 1000
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_text = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class ExportReport:
    format: str = ""
    exported: int = 0
    failed: int = 0
    vanished: int = 0  # listed, then deleted (or expired) before its value was read
    bytes: int = 0
    dropped_metadata: int = 0  # items whose metadata the format cannot hold
    dropped_ttl: int = 0  # items whose expiry the format cannot hold
    errors: list[dict] = field(default_factory=list)
    errors_omitted: int = 0
    elapsed: float = 0.0
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.stopped is None

    def add_error(self, key: str, code: str, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"key": key, "code": code, "detail": reason})
        else:
            self.errors_omitted += 1

    def to_json(self) -> dict:
        out = {
            "success": self.ok,
            "errors": self.errors,
            "exported": self.exported,
            "failed": self.failed,
            "vanished": self.vanished,
            "bytes": self.bytes,
            "format": self.format,
            "dropped_metadata": self.dropped_metadata,
            "dropped_ttl": self.dropped_ttl,
            "stopped": self.stopped,
            "elapsed_seconds": round(self.elapsed, 3),
        }
        if self.errors_omitted:
            out["errors_omitted"] = self.errors_omitted
        return out


class Skip(Exception):
    """This item cannot be written in the chosen format (counted as failed, export goes on)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ------------------------------------------------------------------------------------------------ fetching
def iter_items(
    api, store_id: str, *, prefix: str | None = None, concurrency: int = 8, report: ExportReport | None = None
) -> Iterator[Item | tuple[str, Exception]]:
    """Every item under ``prefix`` in key order: an :class:`Item`, or ``(key, error)`` when it could not be read.

    Keys that disappear between listing and reading (404) are skipped and counted in ``report.vanished``.
    """
    keys = (k for page in iter_keys(api, store_id, prefix=prefix) for k in page.items)
    if concurrency <= 1:
        for key in keys:
            try:
                yield api.get_item(store_id, key)
            except NotFound:
                if report is not None:
                    report.vanished += 1
            except KvcliError as exc:
                yield key, exc
        return
    window: deque[tuple[str, Future]] = deque()
    with worker_pool(concurrency, "kvcli-export") as pool:
        try:
            for key in keys:
                window.append((key, pool.submit(api.get_item, store_id, key)))
                if len(window) >= concurrency * 2:
                    yield from _settle(window.popleft(), report)
            while window:
                yield from _settle(window.popleft(), report)
        finally:
            for _, fut in window:
                fut.cancel()


def _settle(pair: tuple[str, Future], report: ExportReport | None):
    key, fut = pair
    try:
        yield fut.result()
    except NotFound:
        if report is not None:
            report.vanished += 1
    except KvcliError as exc:
        yield key, exc


def ttl_of(item: Item, now: float) -> int | None:
    exp = item.info.expires_at
    if exp is None:
        return None
    return max(1, math.ceil(exp.timestamp() - now))


# ------------------------------------------------------------------------------------------------- writers
class StreamWriter:
    """Writes a document format to a text stream."""

    def __init__(self, out: IO[str], clock: Callable[[], float] = time.time) -> None:
        self.out = out
        self.clock = clock
        self.count = 0

    def begin(self) -> None:
        pass

    def write(self, item: Item, report: ExportReport) -> int:
        raise NotImplementedError

    def end(self) -> None:
        pass


class NdjsonWriter(StreamWriter):
    def write(self, item: Item, report: ExportReport) -> int:
        obj: dict = {"key": item.key, "value": base64.b64encode(item.value).decode("ascii")}
        if item.info.metadata:
            obj["metadata"] = item.info.metadata
        ttl = ttl_of(item, self.clock())
        if ttl is not None:
            obj["time_to_live_sec"] = ttl
        self.out.write(_compact(obj) + "\n")
        return len(item.value)


class ViceroyWriter(StreamWriter):
    def begin(self) -> None:
        self.out.write("{")

    def write(self, item: Item, report: ExportReport) -> int:
        try:
            text = item.value.decode("utf-8")
        except UnicodeDecodeError:
            raise Skip(
                "binary_value", "value is not UTF-8 text, which Viceroy's JSON cannot hold: use format ndjson or dir"
            ) from None
        if item.info.expires_at is not None:
            report.dropped_ttl += 1
        if item.info.metadata:
            val: object = {"data": text, "metadata": item.info.metadata}
        else:
            val = text
        sep = "\n  " if self.count == 0 else ",\n  "
        self.out.write(sep + _text(item.key) + ": " + _text(val))
        self.count += 1
        return len(item.value)

    def end(self) -> None:
        self.out.write("\n}\n" if self.count else "}\n")


def wrangler_metadata(metadata: str):
    """Cloudflare metadata is a JSON object: use one when the text is exactly the compact form of an object."""
    try:
        obj = json.loads(metadata)
    except ValueError:
        return metadata
    if isinstance(obj, dict) and json.dumps(obj, separators=(",", ":"), ensure_ascii=False) == metadata:
        return obj
    return metadata


class WranglerWriter(StreamWriter):
    def begin(self) -> None:
        self.out.write("[")

    def write(self, item: Item, report: ExportReport) -> int:
        obj: dict = {"key": item.key, "value": base64.b64encode(item.value).decode("ascii"), "base64": True}
        if item.info.metadata:
            obj["metadata"] = wrangler_metadata(item.info.metadata)
        if item.info.expires_at is not None:
            obj["expiration"] = math.ceil(item.info.expires_at.timestamp())
        sep = "\n  " if self.count == 0 else ",\n  "
        self.out.write(sep + _text(obj))
        self.count += 1
        return len(item.value)

    def end(self) -> None:
        self.out.write("\n]\n" if self.count else "]\n")


# ----------------------------------------------------------------------------------------------- directory
def key_path_problem(key: str) -> str | None:
    """Why ``key`` cannot be a relative file path under the export directory (None when it can)."""
    if "\x00" in key:
        return "key contains a NUL character"
    if "\\" in key:
        return "key contains a backslash"
    parts = key.split("/")
    for part in parts:
        if part == "":
            return "key has an empty path segment (leading, trailing or doubled '/')"
        if part in (".", ".."):
            return f"key has a {part!r} path segment"
        if len(part.encode("utf-8", "surrogatepass")) > 255:
            return "a path segment of the key is longer than 255 bytes"
    return None


def _kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "something"


class DirWriter:
    """Writes each item to ``root/<key>``; directories are opened with O_NOFOLLOW relative to their parent."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._root_fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        self.count = 0

    def close(self) -> None:
        os.close(self._root_fd)

    def _open_dir(self, parent_fd: int, name: str) -> int:
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(name, flags, dir_fd=parent_fd)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass
            return os.open(name, flags, dir_fd=parent_fd)

    def write(self, item: Item, report: ExportReport) -> int:
        problem = key_path_problem(item.key)
        if problem:
            raise Skip("unsafe_path", problem + "; it cannot be written as a file")
        if item.info.metadata:
            report.dropped_metadata += 1
        if item.info.expires_at is not None:
            report.dropped_ttl += 1
        *dirs, name = item.key.split("/")
        fd = self._root_fd
        opened: list[int] = []
        try:
            for d in dirs:
                try:
                    fd = self._open_dir(fd, d)
                except (NotADirectoryError, OSError) as exc:
                    raise Skip(
                        "path_conflict", f"cannot create directory {d!r} for this key: {exc.strerror or exc}"
                    ) from None
                opened.append(fd)
            # only ever write regular files: opening a FIFO for writing blocks until a reader comes (forever), and
            # a device must not be written to. Checked before opening and again on what was opened (a race).
            try:
                existing = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                existing = None
            except OSError as exc:
                raise Skip("path_conflict", f"cannot write the file: {exc.strerror or exc}") from None
            if existing is not None and not stat.S_ISREG(existing):
                raise Skip("path_conflict", f"{_kind(existing)} of that name is in the way, not a regular file; "
                                            "remove it or export into another directory")
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | \
                getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            try:
                out = os.open(name, flags, 0o644, dir_fd=fd)
            except OSError as exc:
                raise Skip("path_conflict", f"cannot write the file: {exc.strerror or exc}") from None
            try:
                mode = os.fstat(out).st_mode
                if not stat.S_ISREG(mode):
                    raise Skip("path_conflict", f"{_kind(mode)} of that name is in the way, not a regular file; "
                                                "remove it or export into another directory")
                view = memoryview(item.value)
                while view:
                    n = os.write(out, view)
                    view = view[n:]
            finally:
                os.close(out)
        finally:
            for f in opened:
                os.close(f)
        self.count += 1
        return len(item.value)


# ------------------------------------------------------------------------------------------------- running
def export(
    api,
    store_id: str,
    writer,
    *,
    fmt: str,
    prefix: str | None = None,
    concurrency: int = 8,
    on_progress: Callable[[ExportReport], None] | None = None,
) -> ExportReport:
    """Stream every item under ``prefix`` into ``writer``; account for each one in the report."""
    report = ExportReport(format=fmt)
    t0 = time.monotonic()
    begin = getattr(writer, "begin", None)
    if begin is not None:
        begin()
    try:
        for got in iter_items(api, store_id, prefix=prefix, concurrency=concurrency, report=report):
            if isinstance(got, tuple):
                key, exc = got
                code = str(getattr(exc, "status", "") or type(exc).__name__)
                report.add_error(key, code, getattr(exc, "message", str(exc)))
                continue
            try:
                report.bytes += writer.write(got, report)
                report.exported += 1
            except Skip as skip:
                report.add_error(got.key, skip.code, skip.reason)
            if on_progress is not None:
                on_progress(report)
    except KvcliError as exc:  # listing failed part-way
        report.stopped = exc.message
        raise
    finally:
        end = getattr(writer, "end", None)
        if end is not None:
            end()
        report.elapsed = time.monotonic() - t0
    return report


def check_format(fmt: str) -> str:
    f = fmt.strip().lower()
    if f not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", f"use one of: {', '.join(EXPORT_FORMATS)}")
    return f
