"""The batch endpoint of ``kvcli local serve``: an NDJSON body parsed as it arrives and written in short chunks
(registered by :func:`kvcli.local.server.register`).
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

from starlette.responses import Response

from kvcli.api import validation, wire
from kvcli.api.models import BatchEntry, BatchError
from kvcli.api.plain import plain_lines
from kvcli.local.engine import Engine
from kvcli.local.engine_batch import CheckedEntry
from kvcli.local.server_base import NESTED_TOO_DEEPLY, Call, json_problem, json_response
from kvcli.local.server_routes import _value_limit

# ----------------------------------------------------------------------------------------------------- batch
_WS = " \t\r\n\ufeff"


def _next_record(text: str, pos: int) -> int:
    """After unparseable input at ``pos``: the start of the next line that begins (after blanks) with ``{``."""
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
        stripped = pos
        while stripped < len(text) and text[stripped] in " \t\r":
            stripped += 1
        if stripped < len(text) and text[stripped] == "{":
            return stripped


def _batch_entry(obj: Any) -> tuple[BatchEntry | None, str, str | None]:
    """(entry, key, problem) for one decoded batch record; the engine checks key/metadata/size/TTL rules."""
    if not isinstance(obj, dict):
        return None, "", "each line must be a JSON object"
    key = obj.get("key")
    if not isinstance(key, str) or key == "":
        return None, key if isinstance(key, str) else "", '"key" is required and must be a non-empty string'
    value = obj.get("value")
    if not isinstance(value, str):
        return None, key, '"value" is required and must be a base64 string'
    try:  # what base64.b64decode(validate=True) does, without its wrapper (a non-ASCII string: ValueError)
        data = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        return None, key, '"value" is not valid base64'
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        return None, key, '"metadata" must be a string'
    ttl = obj.get("time_to_live_sec")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        return None, key, '"time_to_live_sec" must be a whole number of seconds'
    bg = obj.get("background_fetch", False)
    if bg is not None and not isinstance(bg, bool):
        return None, key, '"background_fetch" must be true or false'
    return BatchEntry(key=key, value=data, metadata=metadata, ttl=ttl, background_fetch=bool(bg)), key, None


#: records are written in transactions of at most this many records or value bytes, so that the write lock is held
#: briefly and memory holds one chunk of a batch of any size
BATCH_CHUNK_RECORDS = 1000
BATCH_CHUNK_BYTES = 8 * 1024 * 1024
#: at most this many per-record errors are listed in a batch answer (the title counts them all)
MAX_LISTED_ERRORS = 10_000
#: what a record may hold besides its base64 value (key, metadata, field names, JSON escapes)
RECORD_OVERHEAD = 64 * 1024

BatchRecord = tuple[int, BatchEntry] | BatchError
_KEY_AT_START = re.compile(rb'\s*\{\s*"key"\s*:\s*"((?:[^"\\]|\\.){0,4096})"')


def record_limit(value_limit: int) -> int:
    """The longest batch record kept for parsing: a value of ``value_limit`` bytes in base64 (with room for escaped
    ``/``), plus RECORD_OVERHEAD. A longer record is refused without being held in memory."""
    b64 = 4 * -(-value_limit // 3)
    return b64 + b64 // 32 + RECORD_OVERHEAD


def _key_of_long_record(head: bytes) -> str:
    """The key of a record too long to parse, when it starts with ``{"key": "..."`` (else "")."""
    m = _KEY_AT_START.match(head)
    if not m:
        return ""
    try:
        key = json.loads(b'"' + m.group(1) + b'"')
    except ValueError:
        return ""
    return key if isinstance(key, str) else ""


def _first_record_line(text: str) -> int:
    """The start of the first line of ``text`` that begins (after blanks) with ``{``, or ``len(text)``."""
    stripped = 0
    while stripped < len(text) and text[stripped] in " \t\r":
        stripped += 1
    if stripped < len(text) and text[stripped] == "{":
        return stripped
    return _next_record(text, 0)


class BatchParser:
    """An NDJSON batch body parsed as it arrives: :meth:`feed` bytes, then :meth:`finish`; each returns the records
    completed so far, as ``(index, entry)`` or a :class:`BatchError`.

    Records are JSON objects separated by whitespace: blank lines are ignored and leading whitespace is tolerated
    (so pretty-printed objects work too). The index of a record counts records (0-based), which for ordinary NDJSON
    is the line number. After an unparseable record, parsing resumes at the next line starting with ``{``. A record
    longer than ``limit`` is one error (its key named when it starts with ``"key"``) and is never held whole.

    Memory holds the current record and one fed chunk. Only complete lines are parsed (a JSON string cannot hold a
    raw line break, so a record cut at a line end is recognisably incomplete: its error lies at the end of the
    text); an incomplete record is retried once the text after it has doubled, so a record of many lines costs
    linear time.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.index = 0
        self.tail = bytearray()  # bytes after the last line break
        self.discarding = False  # inside a line too long to keep: dropped up to its line break
        self.pieces: list[str] = []  # complete lines not parsed yet (a record that spans lines)
        self.pending = 0  # their length
        self.tried = 0  # self.pending when it was last found incomplete
        self.skipping = False  # after a bad record: lines are dropped until one starts with "{"
        self.decoder = json.JSONDecoder()
        self.out: list[BatchRecord] = []

    def feed(self, data: bytes) -> list[BatchRecord]:
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if self.discarding:
                if nl < 0:
                    return self._take()
                self.discarding = False
                pos = nl + 1
                continue
            if nl < 0:
                self.tail += data[pos:]
                if len(self.tail) > self.limit:
                    self._too_long(bytes(self.tail[:8192]))
                    self.tail.clear()
                    self.discarding = True
                return self._take()
            # the complete lines of this chunk, up to its last line break (one decode, not one per line)
            last = data.rfind(b"\n") + 1
            first_len = len(self.tail) + nl + 1 - pos
            if first_len > self.limit:
                self._too_long(bytes(self.tail[:8192]) + data[pos : pos + 8192])
                self.tail.clear()
                pos = nl + 1
                continue
            if last - nl - 1 > self.limit and self._has_long_line(data, nl + 1, last):
                last = nl + 1  # a long line further on: take lines one at a time
            complete = bytes(self.tail) + data[pos:last] if self.tail else data[pos:last]
            self.tail.clear()
            if not self.pieces and not self.skipping and self._plain(complete):
                pos = last
                continue
            self._add(complete.decode("utf-8", errors="surrogateescape"))
            pos = last
        return self._take()

    def _plain(self, complete: bytes) -> bool:
        """Whole lines that are all plain batch lines (kvcli.api.plain), read as such: True; else False (nothing
        read, the per-record parser takes them). Each is the entry the parser would make of it."""
        plain = plain_lines(complete)
        if plain is None:
            return False
        out, index = self.out, self.index
        for key, value in zip(plain[1], plain[2], strict=True):
            out.append((index, CheckedEntry(key.decode("ascii"), binascii.a2b_base64(value, strict_mode=True))))
            index += 1
        self.index = index
        return True

    def finish(self) -> list[BatchRecord]:
        if self.tail and not self.discarding:
            self._add(bytes(self.tail).decode("utf-8", errors="surrogateescape"))
            self.tail.clear()
        self._parse(final=True)
        return self._take()

    def _has_long_line(self, data: bytes, start: int, end: int) -> bool:
        while start < end:
            nl = data.find(b"\n", start, end)
            if nl - start + 1 > self.limit:
                return True
            start = nl + 1
        return False

    def _take(self) -> list[BatchRecord]:
        out, self.out = self.out, []
        return out

    def _error(self, key: str, reason: str) -> None:
        self.out.append(BatchError(index=self.index, key=key, code="400", reason=reason))
        self.index += 1

    def _too_long(self, head: bytes) -> None:
        self._parse(final=True)  # whatever came before it is complete now
        self._error(
            _key_of_long_record(head),
            f"record is longer than {self.limit} bytes (values are limited to {self._value_limit()} bytes)",
        )

    def _value_limit(self) -> int:
        b64 = (self.limit - RECORD_OVERHEAD) * 32 // 33
        return b64 * 3 // 4

    def _add(self, text: str) -> None:
        self.pieces.append(text)
        self.pending += len(text)
        if self.tried and self.pending < 2 * self.tried and self.pending <= self.limit:
            return  # an incomplete record: retried when its text has doubled (or at the end)
        self._parse(final=self.pending > self.limit)

    def _parse(self, final: bool) -> None:
        text, pos = "".join(self.pieces), 0
        self.pieces, self.pending, self.tried = [], 0, 0
        if self.skipping:
            pos = _first_record_line(text)
            if pos >= len(text):
                return
            self.skipping = False
        n = len(text)
        end_of_content = len(text.rstrip(_WS))
        while True:
            while pos < n and text[pos] in _WS:
                pos += 1
            if pos >= n:
                return
            try:
                obj, pos = self.decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError and the int digit limit
                if isinstance(exc, json.JSONDecodeError) and exc.pos >= end_of_content:
                    if not final:  # cut at the end of what has arrived: wait for more
                        self.pieces = [text[pos:]]
                        self.pending = self.tried = n - pos
                        return
                    if n - pos > self.limit:
                        self._error("", f"record is longer than {self.limit} bytes")
                        self.skipping = True
                        return
                why = json_problem(exc) if isinstance(exc, ValueError) else NESTED_TOO_DEEPLY
                self._error("", f"invalid JSON: {why}")
                pos = _next_record(text, pos)
                if pos >= n:
                    self.skipping = True
                    return
                continue
            entry, key, problem = _batch_entry(obj)
            if entry is None:
                self._error(key, problem or "invalid record")
            else:
                self.out.append((self.index, entry))
                self.index += 1


def parse_batch(body: bytes, limit: int | None = None) -> tuple[list[tuple[int, BatchEntry]], list[BatchError], int]:
    """Parse a whole NDJSON batch body: (good entries with their record index, errors, number of records).
    See :class:`BatchParser` for the format."""
    parser = BatchParser(record_limit(limit or validation.max_value_bytes()))
    good: list[tuple[int, BatchEntry]] = []
    errors: list[BatchError] = []
    for record in parser.feed(body) + parser.finish():
        if isinstance(record, BatchError):
            errors.append(record)
        else:
            good.append(record)
    return good, errors, parser.index


class BatchWriter:
    """Writes a batch's good records in chunks (one short transaction each) and collects the per-record errors."""

    def __init__(self, engine: Engine, store_id: str) -> None:
        self.engine = engine
        self.store_id = store_id
        self.pending: list[tuple[int, BatchEntry]] = []
        self.pending_bytes = 0
        self.errors: list[BatchError] = []
        self.failed = 0
        self.written = 0

    def add(self, record: BatchRecord) -> None:
        if isinstance(record, BatchError):
            self._failed(record)
            return
        self.pending.append(record)
        self.pending_bytes += len(record[1].value)
        if len(self.pending) >= BATCH_CHUNK_RECORDS or self.pending_bytes >= BATCH_CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending, self.pending_bytes = self.pending, [], 0
        result = self.engine.put_batch(self.store_id, [entry for _, entry in chunk])
        self.written += result.written
        for err in result.errors:
            self._failed(BatchError(index=chunk[err.index][0], key=err.key, code=err.code, reason=err.reason))

    def _failed(self, error: BatchError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)


_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _printable(text: str) -> str:
    """Undecodable bytes (kept as surrogates while parsing) and lone surrogates (from ``\\ud800`` escapes) shown as
    U+FFFD in a JSON answer."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def put_batch(call: Call) -> Response:
    """Good records are written even when others fail; any failure answers 400 with errors[].

    The body is parsed as it arrives and written in chunks of BATCH_CHUNK_RECORDS records (one short transaction
    each), so a batch of any size runs in bounded memory and other writers get the database between chunks.
    """
    store_id = call.params["store_id"]
    call.engine.get_store(store_id)  # 404 for an unknown store, before reading the body
    parser = BatchParser(record_limit(_value_limit(call.engine)))
    writer = BatchWriter(call.engine, store_id)
    with call.engine.batch_request():
        for chunk in call.chunks:
            for record in parser.feed(chunk):
                writer.add(record)
        for record in parser.finish():
            writer.add(record)
        writer.flush()
    if not writer.failed:
        return json_response(wire.BATCH_SUCCESS)
    errors = sorted(writer.errors, key=lambda e: e.index)
    listed = "" if writer.failed == len(errors) else f" (the first {len(errors)} are listed)"
    body = {
        "type": wire.BATCH_ERROR_TYPE,
        "title": f"{writer.failed} of {parser.index} entries failed; the other {writer.written} were written{listed}",
        "errors": [
            {"key": _printable(e.key), "index": e.index, "code": e.code, "reason": _printable(e.reason)} for e in errors
        ],
    }
    return json_response(body, 400)
