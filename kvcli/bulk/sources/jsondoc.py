"""JSON-document formats: wrangler's ``kv bulk put`` array, Viceroy's store object and ``[setup]``'s store object.

All three are read element by element (:class:`~kvcli.bulk.sources.jsonstream.JsonStream`); an element that is
wrong is a bad record with its line number, while broken JSON syntax stops the read (a document cannot be
resynchronised after a syntax error).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from kvcli.bulk.records import Bad, Entry, Record
from kvcli.bulk.sources.base import (
    HugeNumber,
    Source,
    entry_from_text,
    file_entry,
    file_identity,
    go_json,
    huge_in,
    open_input,
)
from kvcli.bulk.sources.jsonstream import JsonStream


class _JsonDocSource(Source):
    def __init__(
        self,
        path: str | None = None,
        stream: BinaryIO | None = None,
        label: str | None = None,
        *,
        base_dir: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.path = path
        self._stream = stream
        self.label = label or path or "<stdin>"
        #: relative ``file`` references are resolved against this directory (None: the working directory)
        self.base_dir = base_dir
        self.clock = clock
        if path is not None:
            try:
                self.total_bytes = os.path.getsize(path)
            except OSError:
                self.total_bytes = None

    def identity(self) -> dict | None:
        return None if self.path is None else file_identity(self.path)

    def _open(self) -> tuple[BinaryIO, bool]:
        if self.path is not None:
            return open_input(self.path), True
        assert self._stream is not None
        return self._stream, False

    def records(self, start=None) -> Iterator[Record]:
        fh, owned = self._open()
        stream = JsonStream(fh, self.label)
        try:
            for ordinal, rec in enumerate(self._elements(stream)):
                self._position = stream.bytes_read
                rec.ordinal = ordinal
                yield rec
        finally:
            if owned:
                fh.close()

    def _elements(self, stream: JsonStream) -> Iterator[Record]:
        raise NotImplementedError


class WranglerSource(_JsonDocSource):
    """``[{"key", "value", "base64"?, "metadata"?, "expiration"?, "expiration_ttl"?}, …]``.

    ``metadata`` (a JSON object for Cloudflare) becomes its compact JSON text; a string is kept as it is.
    ``expiration`` (absolute epoch seconds) and ``expiration_ttl`` become a TTL in seconds; when both are given,
    ``expiration_ttl`` wins. Unknown properties are ignored, as wrangler does.
    """

    format = "wrangler"

    def _elements(self, stream: JsonStream) -> Iterator[Record]:
        for obj, line in stream.array_items():
            yield self._item(obj, line)

    def _item(self, obj, line: int) -> Record:
        label = self.label
        if not isinstance(obj, dict):
            return Bad("array element is not an object", label, line, 0, code="invalid_line")
        key = obj.get("key")
        if not isinstance(key, str):
            code = "missing_key" if key is None else "invalid_key"
            return Bad("missing \"key\"" if key is None else "\"key\" must be a string", label, line, 0, code=code)

        def bad(reason: str, code: str = "invalid_value") -> Bad:
            return Bad(reason, label, line, 0, key=key, code=code)

        raw = obj.get("value")
        if not isinstance(raw, str):
            return bad("missing \"value\"" if raw is None else "\"value\" must be a string")
        is_b64 = obj.get("base64", False)
        if is_b64 not in (True, False, None):
            return bad("\"base64\" must be true or false")
        metadata = obj.get("metadata")
        if metadata is not None and not isinstance(metadata, str):
            huge = huge_in(metadata)
            if huge is not None:
                return bad(f"\"metadata\" holds a {huge.digits}-digit number", "invalid_metadata")
            metadata = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        for name in ("expiration_ttl", "expiration"):
            if isinstance(obj.get(name), HugeNumber):
                return bad(f"\"{name}\" is a {obj[name].digits}-digit number; a TTL is at most 100 years",
                           "invalid_ttl")
        ttl: int | None = None
        if obj.get("expiration_ttl") is not None:
            raw_ttl = obj["expiration_ttl"]
            if isinstance(raw_ttl, bool) or not isinstance(raw_ttl, (int, float)) or not raw_ttl > 0 or \
                    not math.isfinite(raw_ttl):  # NaN, Infinity and 1e400 parse as floats
                return bad("\"expiration_ttl\" must be a positive number of seconds", "invalid_ttl")
            ttl = math.ceil(raw_ttl)
        elif obj.get("expiration") is not None:
            exp = obj["expiration"]
            if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
                return bad("\"expiration\" must be epoch seconds", "invalid_ttl")
            ttl = math.ceil(exp - self.clock())
            if ttl <= 0:
                return bad(f"\"expiration\" {exp} is in the past", "expired")
        fields = dict(metadata=metadata, ttl=ttl, file=label, line=line, ordinal=0)
        if is_b64:
            try:
                value = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                return bad("\"value\" is not valid base64 (\"base64\": true)")
            return Entry(key, value, **fields)
        return entry_from_text(key, raw, **fields)


class ViceroyJsonSource(_JsonDocSource):
    """Viceroy's store file: ``{"key": "data" | {"data": "…" | "file": "path", "metadata"?: "…"}}``."""

    format = "viceroy"

    def _elements(self, stream: JsonStream) -> Iterator[Record]:
        for key, val, line in stream.object_items():
            yield self.member(key, val, line)

    def member(self, key: str, val, line: int) -> Record:
        label = self.label
        if isinstance(val, str):
            return entry_from_text(key, val, file=label, line=line, ordinal=0)
        if not isinstance(val, dict):
            return Bad(
                "value must be a string or an object with \"data\" or \"file\"", label, line, 0, key=key,
                code="invalid_value",
            )
        return viceroy_entry(self, key, val, line)


def viceroy_entry(source: Source, key: str, val: dict, line: int | None) -> Record:
    """One ``{data | file, metadata?}`` entry (shared by the JSON file and fastly.toml's inline form)."""
    label = source.label
    metadata = val.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        return Bad("\"metadata\" must be a string", label, line, 0, key=key, code="invalid_metadata")
    has_data, has_file = "data" in val, ("file" in val or "path" in val)
    if has_data and has_file:
        return Bad("both \"data\" and \"file\" are set; use one", label, line, 0, key=key, code="invalid_value")
    if has_data:
        data = val["data"]
        if not isinstance(data, str):
            return Bad("\"data\" must be a string", label, line, 0, key=key, code="invalid_value")
        return entry_from_text(key, data, metadata=metadata, file=label, line=line, ordinal=0)
    if has_file:
        ref = val.get("file", val.get("path"))
        return file_entry(label, getattr(source, "base_dir", None), key, ref, metadata, line)
    return Bad("neither \"data\" nor \"file\" is set", label, line, 0, key=key, code="missing_value")


class SetupJsonSource(_JsonDocSource):
    """``[setup.kv_stores.<name>] file = …``: ``{"key": "text" | any JSON}``; non-strings become JSON text."""

    format = "setup-json"

    def _elements(self, stream: JsonStream) -> Iterator[Record]:
        for key, val, line in stream.object_items():
            huge = None if isinstance(val, str) else huge_in(val)
            if huge is not None:  # Go's json.Unmarshal cannot hold it either (float64 out of range)
                yield Bad(f"the value holds a {huge.digits}-digit number, which cannot be stored as JSON text",
                          self.label, line, 0, key=key, code="invalid_value")
                continue
            text = val if isinstance(val, str) else go_json(val)
            yield entry_from_text(key, text, file=self.label, line=line, ordinal=0)
