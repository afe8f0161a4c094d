"""Incremental reading of one big JSON array or object, element by element, with line numbers.

``json.JSONDecoder.raw_decode`` is applied to a sliding text buffer filled from the file in 1 MiB reads; consumed
text is dropped, so memory stays at about one read plus the largest element however long the document is.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

from kvcli.bulk.sources.base import MAX_RECORD_BYTES, TOLERANT_DECODER, SourceError

_READ = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")


class JsonStream:
    """A cursor over a JSON document that is too big to load at once."""

    def __init__(self, fh: BinaryIO, label: str) -> None:
        self._fh = fh
        self.label = label
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._raw = json.JSONDecoder().raw_decode
        self._tolerant = TOLERANT_DECODER.raw_decode
        self.buf = ""
        self.pos = 0
        self.line = 1  # line number at self.pos
        self.eof = False
        self.bytes_read = 0

    # --------------------------------------------------------------------------------------------- buffer
    def _fill(self, size: int = _READ) -> bool:
        if self.eof:
            return False
        data = self._fh.read(size)
        self.bytes_read += len(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise SourceError(f"{self.label}:{self.line}: the file is not valid UTF-8 text") from None
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(data) or bool(text)

    def _advance(self, new_pos: int) -> None:
        self.line += self.buf.count("\n", self.pos, new_pos)
        self.pos = new_pos

    def line_at(self, pos: int) -> int:
        return self.line + self.buf.count("\n", self.pos, pos)

    def error(self, message: str, pos: int | None = None) -> SourceError:
        line = self.line if pos is None else self.line_at(pos)
        return SourceError(f"{self.label}:{line}: {message}", "fix the JSON document: it is read as one document")

    # -------------------------------------------------------------------------------------------- scanning
    def skip_ws(self) -> None:
        while True:
            end = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]  # zero or more: always matches
            self._advance(end)
            if self.pos < len(self.buf) or not self._fill():
                return

    def peek(self) -> str:
        """The next non-space character, or '' at the end of the input."""
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, chars: str, what: str) -> str:
        ch = self.peek()
        if not ch or ch not in chars:
            found = repr(ch) if ch else "the end of the file"
            raise self.error(f"invalid JSON: expected {what}, found {found}")
        self._advance(self.pos + 1)
        return ch

    def value(self) -> tuple[object, int]:
        """Decode the next JSON value; return it and the line it starts on."""
        self.skip_ws()
        start_line = self.line
        extra = _READ
        raw = self._raw
        while True:
            try:
                obj, end = raw(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                truncated = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if truncated and not self.eof and len(self.buf) - self.pos <= MAX_RECORD_BYTES:
                    self._fill(extra)
                    extra = max(extra, len(self.buf) - self.pos)  # grow geometrically: no quadratic re-parsing
                    continue
                if truncated and not self.eof:
                    raise self.error(f"a JSON element is larger than {MAX_RECORD_BYTES} bytes") from None
                raise self.error(f"invalid JSON: {exc.msg}", exc.pos) from None
            except RecursionError:
                raise self.error("invalid JSON: nested too deeply") from None
            except ValueError:  # an integer with more digits than int() converts: decode it as a HugeNumber
                if raw is self._tolerant:
                    raise
                raw = self._tolerant
                continue
            # a number or literal that ends exactly at the buffer's end may continue in the next read
            if end >= len(self.buf) and not self.eof and not isinstance(obj, (dict, list, str)):
                self._fill(extra)
                continue
            self._advance(end)
            return obj, start_line

    # ------------------------------------------------------------------------------------------- documents
    def array_items(self) -> Iterator[tuple[object, int]]:
        """Each element of a top-level array, with its line."""
        self.expect("[", "a JSON array ('[')")
        if self.peek() == "]":
            self._advance(self.pos + 1)
            self._end()
            return
        while True:
            yield self.value()
            if self.expect(",]", "',' or ']'") == "]":
                self._end()
                return

    def object_items(self) -> Iterator[tuple[str, object, int]]:
        """Each member of a top-level object: (name, value, line)."""
        self.expect("{", "a JSON object ('{')")
        if self.peek() == "}":
            self._advance(self.pos + 1)
            self._end()
            return
        while True:
            if self.peek() != '"':
                raise self.error("invalid JSON: expected a member name in double quotes")
            name, line = self.value()
            self.expect(":", "':'")
            val, _ = self.value()
            yield str(name), val, line
            if self.expect(",}", "',' or '}'") == "}":
                self._end()
                return

    def _end(self) -> None:
        if self.peek():
            raise self.error("invalid JSON: unexpected text after the end of the document")
