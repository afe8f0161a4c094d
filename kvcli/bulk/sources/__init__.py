"""Bulk-input formats and their detection.

==============  =======================================================================================
``ndjson``      Fastly's batch format: one ``{"key", "value" (base64), "metadata"?, "time_to_live_sec"?,
                "background_fetch"?}`` per line (``kv-store-entry create --file`` of the official CLI)
``wrangler``    ``wrangler kv bulk put``: a JSON array of ``{"key", "value", "base64"?, "metadata"?,
                "expiration"?, "expiration_ttl"?}``
``viceroy``     Viceroy's store file: a JSON object ``{"key": "data" | {"data" | "file", "metadata"?}}``
``setup-json``  the JSON file of ``[setup.kv_stores.<name>] file = …``: ``{"key": "text" | any JSON}``
``fastly-toml`` a ``[local_server.kv_stores.<name>]`` store in a fastly.toml (inline, or ``{file, format}``)
``setup-toml``  a ``[setup.kv_stores.<name>]`` store in a fastly.toml (``items`` or ``file``)
``dir``         the files of a directory (``--dir``)
==============  =======================================================================================
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, BinaryIO

from kvcli.api.errors import UsageError
from kvcli.bulk.sources.base import ResumePoint, Source, SourceError, read_head
from kvcli.bulk.sources.ndjson import NdjsonSource
from kvcli.formats import INPUT_FORMATS as FORMATS  # the one list of input formats

if TYPE_CHECKING:
    from kvcli.bulk.sources.directory import DirSource
    from kvcli.bulk.sources.jsondoc import SetupJsonSource, ViceroyJsonSource, WranglerSource

#: the sources other than NDJSON's, imported when first used (an NDJSON import, the common case, never loads them)
_LAZY = {
    "DirSource": "kvcli.bulk.sources.directory",
    "SetupJsonSource": "kvcli.bulk.sources.jsondoc",
    "ViceroyJsonSource": "kvcli.bulk.sources.jsondoc",
    "WranglerSource": "kvcli.bulk.sources.jsondoc",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

ALIASES = {"fastly": "ndjson", "jsonl": "ndjson", "viceroy-json": "viceroy", "toml": "toml"}
_TOML_HINT = re.compile(rb"^\s*\[\[?\s*[\"']?(local_server|setup)\b", re.MULTILINE)

__all__ = [
    "FORMATS",
    "DirSource",
    "NdjsonSource",
    "ResumePoint",
    "SetupJsonSource",
    "Source",
    "SourceError",
    "ViceroyJsonSource",
    "WranglerSource",
    "detect_format",
    "open_source",
]


def normalize_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    f = fmt.strip().lower()
    f = ALIASES.get(f, f)
    if f not in FORMATS and f != "toml":
        raise UsageError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}", reason="unknown_format",
                         facts={"format": fmt})
    return f


def _first_value(head: bytes):
    """The first JSON value of ``head`` if it is complete there, else None."""
    try:
        text = head.decode("utf-8-sig", "ignore").lstrip()
        import json

        obj, _ = json.JSONDecoder().raw_decode(text)
        return obj
    except (ValueError, RecursionError):  # incomplete, broken, nested too deeply, a number with too many digits
        return None


def detect_format(head: bytes, name: str | None) -> tuple[str, str]:
    """(format, why) from the file name and its first bytes."""
    ext = os.path.splitext(name or "")[1].lower()
    if ext in (".ndjson", ".jsonl"):
        return "ndjson", f"the {ext} extension"
    if ext == ".toml":
        return "toml", "the .toml extension"
    if _TOML_HINT.search(head):
        return "toml", "a [local_server] or [setup] table"
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not stripped:
        return "ndjson", "empty input"
    first = stripped[:1]
    if first == b"[":
        return "wrangler", "a JSON array"
    if first == b"{":
        obj = _first_value(stripped)
        if isinstance(obj, dict) and isinstance(obj.get("key"), str) and "value" in obj:
            return "ndjson", "objects with \"key\" and \"value\" fields"
        line = stripped.split(b"\n", 1)[0].strip()
        if obj is None and line != b"{":
            # the first line is a whole (possibly broken) object: line-oriented
            return "ndjson", "one JSON object per line"
        return "viceroy", "a JSON object mapping keys to values"
    raise UsageError(
        f"cannot tell the format of {name or 'the input'}",
        f"name the format, one of: {', '.join(FORMATS)}", reason="format_unknown_input",
        facts={"formats": ", ".join(FORMATS)},
    )


def open_source(
    *,
    file: str | None = None,
    stream: BinaryIO | None = None,
    directory: str | None = None,
    fmt: str | None = None,
    toml_store: str | None = None,
    recursive: bool = False,
    allow_hidden: bool = False,
) -> tuple[Source, str | None]:
    """The source for a file, a stream or a directory; plus a note saying what was detected ("detected format:
    …" when the format was detected)."""
    fmt = normalize_format(fmt)
    if directory is not None:
        if fmt not in (None, "dir"):
            raise UsageError(f"format {fmt} does not apply to a directory", reason="format_not_for_dir",
                             facts={"format": fmt})
        from kvcli.bulk.sources.directory import DirSource

        return DirSource(directory, recursive=recursive, allow_hidden=allow_hidden), None
    note = why = None
    label = file if file is not None else "<stdin>"
    head_stream: BinaryIO | None = None
    if fmt is None or fmt == "toml":
        if file is not None:
            from kvcli.bulk.sources.base import open_input

            with open_input(file) as fh:
                head = fh.read(64 * 1024)
        else:
            assert stream is not None
            head, head_stream = read_head(stream)
        if fmt is None:
            fmt, why = detect_format(head, file)
            note = f"detected format: {fmt} ({why})"
    if head_stream is not None:
        stream = head_stream
    if fmt in ("toml", "fastly-toml", "setup-toml"):
        if file is None:
            raise UsageError("a fastly.toml cannot be read from stdin", "pass it as a file", reason="toml_stdin")
        from kvcli.bulk.sources.toml import TomlSource

        source = TomlSource(file, None if fmt == "toml" else fmt, toml_store)
        if why is not None:
            note = f"detected format: {source.format} ({why}): {source.describe()}"
        else:
            note = f"reading {source.describe()}"
        return source, note
    if toml_store is not None:
        raise UsageError("a TOML store only applies to a fastly.toml", "name no TOML store, or pass a fastly.toml",
                         reason="toml_store_not_toml")
    if fmt == "ndjson":
        return (NdjsonSource(file) if file is not None else NdjsonSource(stream=stream, label=label)), note
    from kvcli.bulk.sources.jsondoc import SetupJsonSource, ViceroyJsonSource, WranglerSource

    classes: dict[str, type[Source]] = {
        "wrangler": WranglerSource,
        "viceroy": ViceroyJsonSource,
        "setup-json": SetupJsonSource,
    }
    cls: Any = classes[fmt]
    if file is not None:
        return cls(file), note
    return cls(stream=stream, label=label), note
