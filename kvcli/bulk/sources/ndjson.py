"""Fastly's batch format: one JSON object per line with ``key``, base64 ``value`` and optional ``metadata``,
``time_to_live_sec`` and ``background_fetch``.

Read line by line. Blank lines and leading or trailing spaces are tolerated. A pretty-printed object spread over
several lines (as in the official CLI's own test data) is accepted too: when a line is an incomplete object the
following lines are joined to it until it parses; if it never does, only the first line is reported bad and reading
goes on with the next one.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

from kvcli.api.validation import MAX_TTL_SECONDS
from kvcli.bulk.lines import LineRun, scan
from kvcli.bulk.records import Bad, Entry, Record
from kvcli.bulk.sources.base import (
    MAX_RECORD_BYTES,
    TOLERANT_DECODER,
    HugeNumber,
    ResumePoint,
    Source,
    file_identity,
    open_input,
)
from kvcli.bulk.sources.blocks import Block, LineFeed

_MAX_JOINED_LINES = 1000
_BLOCK = 1 << 20
#: stands for a line longer than MAX_RECORD_BYTES, which is skipped without being held in memory
OVERSIZED = b"\x00 oversized line \x00"
_WS = b" \t\r\n\f\v"
# scan_once: the decoder's C scanner (not in the type stubs), called directly to skip JSONDecoder.decode's checks
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_tolerant_scan = TOLERANT_DECODER.scan_once  # type: ignore[attr-defined]
_a2b = binascii.a2b_base64
#: msgspec's decoder, which parses a line 5x faster than json's scanner: imported at the first line parsed one by one
#: (a file of plain lines never is, kvcli.bulk.lines); None where msgspec is not installed (json does it all)
_fast_loads: Callable[[bytes], Any] | None = None
_FastDecodeError: type[Exception] = ValueError  # msgspec's, once it is imported
_fast_tried = False


def _load_fast() -> Callable[[bytes], Any] | None:
    global _fast_loads, _FastDecodeError, _fast_tried
    _fast_tried = True
    try:
        from msgspec import DecodeError
        from msgspec.json import Decoder
    except ImportError:  # pragma: no cover - msgspec is a dependency where it has wheels
        return None
    _FastDecodeError = DecodeError
    _fast_loads = Decoder().decode
    return _fast_loads


def _loads(doc: bytes):
    """``json.loads`` of one stripped line, several times faster (no encoding sniffing, no whitespace regex).

    msgspec reads the lines it can; any line it refuses goes through json's scanner, which gives the error message
    (the same as without msgspec) or reads what only json accepts (``NaN``, a lone ``\\ud800`` escape, an integer
    beyond 64 bits with thousands of digits)."""
    fast = _fast_loads if _fast_tried else _load_fast()
    if fast is not None:
        try:
            return fast(doc)
        except _FastDecodeError:
            pass
    text = doc.decode("utf-8")
    try:
        try:
            obj, end = _scan(text, 0)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer with more digits than int() converts: kept as a HugeNumber
            obj, end = _tolerant_scan(text, 0)
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return obj


def _incomplete(exc: json.JSONDecodeError) -> bool:
    """True when parsing stopped because the text ended (more lines could complete it)."""
    return exc.pos >= len(exc.doc.rstrip()) - 1 or exc.msg.startswith("Unterminated string")


def _b64(raw: str) -> bytes:
    """Strict standard base64 (binascii.Error or ValueError when it is not)."""
    return _a2b(raw, strict_mode=True)


def parse_line_object(
    obj,
    file: str,
    line: int,
    ordinal: int,
    end_offset: int | None = None,
    next_line: int | None = None,
    text: bytes | None = None,
) -> Record:
    """Turn one decoded batch line into an :class:`Entry`, or a :class:`Bad` naming what is wrong with it.

    ``text`` is the source text, kept in a bad record so ``--failed-out`` can write the line back for fixing.
    """
    if type(obj) is dict and len(obj) == 2:  # fast path: the common {"key", "value"} line
        key, raw = obj.get("key"), obj.get("value")
        if type(key) is str and type(raw) is str:
            try:
                value = _a2b(raw, strict_mode=True)
            except (binascii.Error, ValueError):
                pass
            else:
                # exactly {"key", "value"} with valid base64: the line itself is a correct batch line to send
                return Entry(key, value, None, None, False, file, line, ordinal, None, None, end_offset, next_line,
                             text)
    key = obj.get("key") if isinstance(obj, dict) else None

    def bad(reason: str, code: str = "invalid_value") -> Bad:
        raw = text.decode("utf-8", "replace").strip() if text is not None else None
        return Bad(
            reason, file, line, ordinal, key=key, code=code, end_offset=end_offset, next_line=next_line, raw=raw
        )

    if not isinstance(obj, dict):
        return bad("line is not a JSON object", "invalid_line")
    if key is None:
        return bad("missing \"key\"", "missing_key")
    if not isinstance(key, str):
        key = None
        return bad("\"key\" must be a string", "invalid_key")

    raw = obj.get("value")
    if raw is None:
        return bad("missing \"value\"", "missing_value")
    if not isinstance(raw, str):
        return bad("\"value\" must be a base64 string")
    try:
        value = _b64(raw)
    except (binascii.Error, ValueError):
        return bad("\"value\" is not valid base64 (the batch format needs standard base64 values)")
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        return bad("\"metadata\" must be a string", "invalid_metadata")
    ttl = obj.get("time_to_live_sec")
    if isinstance(ttl, HugeNumber):
        return bad(f"\"time_to_live_sec\" is a {ttl.digits}-digit number; the limit is {MAX_TTL_SECONDS} seconds "
                   "(100 years)", "invalid_ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        if isinstance(ttl, float) and ttl.is_integer():
            ttl = int(ttl)
        else:
            return bad("\"time_to_live_sec\" must be a whole number of seconds", "invalid_ttl")
    bg = obj.get("background_fetch", False)
    if bg is None:
        bg = False
    if not isinstance(bg, bool):
        return bad("\"background_fetch\" must be true or false", "invalid_background_fetch")
    return Entry(key, value, metadata, ttl, bg, file, line, ordinal, end_offset=end_offset, next_line=next_line)


class NdjsonSource(Source):
    format = "ndjson"

    def __init__(self, path: str | None = None, stream: BinaryIO | None = None, label: str | None = None) -> None:
        super().__init__()
        self.path = path
        self._stream = stream
        self.label = label or path or "<stdin>"
        self.seekable = path is not None
        if path is not None:
            import os

            try:
                self.total_bytes = os.path.getsize(path)
            except OSError:
                self.total_bytes = None

    def identity(self) -> dict | None:
        return None if self.path is None else file_identity(self.path)

    def _units(self, fh: BinaryIO, offset: int, line: int) -> Iterator[Block | tuple[int, int, bytes]]:
        """The input in 1 MiB blocks of whole lines (:class:`Block`), and as single ``(line number, end offset,
        text)`` lines where a line did not end (the last one) or was too long to hold (:data:`OVERSIZED`)."""
        # a stream (stdin) is read as it arrives (read1: what is there now), so a slow producer's lines are imported
        # without waiting for a whole block; a file is read in whole blocks
        read = fh.read if self.path is not None else getattr(fh, "read1", fh.read)
        pieces: list[bytes] = []  # the start of a line that did not end in the blocks read so far
        held = 0  # bytes in pieces
        dropped = 0  # bytes of an oversized line skipped so far (it is reported, never held in memory)
        while True:
            block = read(_BLOCK)
            if not block:
                if pieces or dropped:
                    rest = b"".join(pieces)
                    end = offset + dropped + len(rest)
                    self._position = end
                    yield line, end, (OVERSIZED if dropped else rest)
                return
            if b"\n" not in block:
                if dropped or held + len(block) > MAX_RECORD_BYTES + 64:
                    dropped += held + len(block)
                    pieces, held = [], 0
                else:
                    pieces.append(block)
                    held += len(block)
                continue
            if dropped:
                cut = block.index(b"\n")
                offset += dropped + cut + 1
                dropped = 0
                yield line, offset, OVERSIZED
                line += 1
                block = block[cut + 1 :]
            elif pieces:
                pieces.append(block)
                block = b"".join(pieces)
                pieces, held = [], 0
            last = block.rfind(b"\n") + 1
            if last:
                whole = block[:last] if last < len(block) else block
                unit = Block(line, offset, whole)
                yield unit
                line += unit.line_count()  # known once the block was read (as a run or line by line)
                offset += last
            self._position = offset
            if last < len(block):
                pieces.append(block[last:])
                held = len(block) - last

    def records(self, start: ResumePoint | None = None) -> Iterator[Record]:
        return cast(Iterator[Record], self._read(start, runs=False))

    def runs(self, start: ResumePoint | None = None) -> Iterator[Record | LineRun]:
        """:meth:`records`, with each block of plain batch lines as one :class:`~kvcli.bulk.lines.LineRun`."""
        return self._read(start, runs=True)

    def _read(self, start: ResumePoint | None, runs: bool) -> Iterator[Record | LineRun]:
        fh = open_input(self.path) if self.path is not None else self._stream
        assert fh is not None
        ordinal, offset, line = 0, 0, 1
        if start is not None and start.offset is not None and self.seekable:
            fh.seek(start.offset)
            ordinal, offset, line = start.ordinal, start.offset, start.line or 1
        try:
            yield from self._parse(self._units(fh, offset, line), ordinal, runs)
        finally:
            if self.path is not None:
                fh.close()

    def _parse(self, units: Iterator[Block | tuple[int, int, bytes]], ordinal: int,
               runs: bool = False) -> Iterator[Record | LineRun]:
        label = self.label
        loads = _loads
        keep_wire = self.keep_wire
        feed = LineFeed(units)
        pending = feed.pending
        while True:
            if pending:
                lineno, end, text = pending.popleft()
            else:
                unit = next(units, None)
                if unit is None:
                    return
                if isinstance(unit, Block):
                    if runs and len(unit.data) <= MAX_RECORD_BYTES:
                        run = scan(unit.data, label, unit.line, ordinal, unit.offset, keep_wire)
                        if run is not None:
                            unit.count = len(run)
                            yield run
                            ordinal += len(run)
                            continue
                    pending.extend(unit.split())
                    continue
                lineno, end, text = unit
            if text is OVERSIZED:
                yield Bad(
                    f"line is longer than the {MAX_RECORD_BYTES}-byte limit for one entry", label, lineno, ordinal,
                    code="too_large", end_offset=end, next_line=lineno + 1,
                )
                ordinal += 1
                continue
            doc = text.strip(_WS)
            if not doc:
                continue
            if doc.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                doc = doc[3:]
            if len(doc) > MAX_RECORD_BYTES:
                yield Bad(
                    f"line is {len(doc)} bytes, more than the {MAX_RECORD_BYTES}-byte limit for one entry",
                    label, lineno, ordinal, code="too_large", end_offset=end, next_line=lineno + 1,
                )
                ordinal += 1
                continue
            try:
                obj = loads(doc)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                joined = None
                if isinstance(exc, json.JSONDecodeError) and doc.startswith(b"{") and _incomplete(exc):
                    joined = self._join(doc, feed)
                if joined is None:
                    yield Bad(
                        _json_reason(exc), label, lineno, ordinal, code="invalid_json",
                        raw=text.decode("utf-8", "replace").rstrip("\r\n"), end_offset=end, next_line=lineno + 1,
                    )
                    ordinal += 1
                    continue
                obj, end, last = joined
                yield parse_line_object(obj, label, lineno, ordinal, end, last + 1, json.dumps(obj).encode())
                ordinal += 1
                continue
            rec = parse_line_object(obj, label, lineno, ordinal, end, lineno + 1, doc)
            if not keep_wire and type(rec) is Entry:
                rec.wire = None  # not needed (embedded backend): do not hold the line in memory
            yield rec
            ordinal += 1

    @staticmethod
    def _join(doc: bytes, feed: LineFeed) -> tuple[object, int, int] | None:
        """Join following lines to an incomplete object; on failure push them back and return None."""
        taken: list[tuple[int, int, bytes]] = []
        parts = [doc]
        size = len(doc)
        while len(taken) < _MAX_JOINED_LINES and size <= MAX_RECORD_BYTES:
            item = feed.next_line()
            if item is None:
                break
            taken.append(item)
            parts.append(item[2])
            size += len(item[2])
            whole = b"\n".join(parts).strip(_WS)
            try:
                return _loads(whole), item[1], item[0]
            except json.JSONDecodeError as exc:
                if not _incomplete(exc):
                    break
            except (UnicodeDecodeError, RecursionError):
                break
        feed.pending.extendleft(reversed(taken))
        return None


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "line is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply"
    assert isinstance(exc, json.JSONDecodeError)
    return f"invalid JSON: {exc.msg} (column {exc.colno})"
