"""The NDJSON import's fast lane: a run of plain batch lines kept as the lines themselves.

Most import files are Fastly batch lines of exactly ``{"key": …, "value": …}``, with an ordinary key and base64
value. :func:`scan` recognises a whole block of such lines (:func:`kvcli.api.plain.plain_lines`) and returns a
:class:`LineRun`: the keys, the base64 values and the lines, without a JSON parse, a base64 decode or an
:class:`~kvcli.bulk.records.Entry` per line. The pipeline carries runs through validation and batching in slices;
the HTTP adapter sends a run's lines as they were read (:meth:`LineRun.wire_body`), and anything that needs the
entries themselves (the embedded engine, an error report, ``--failed-out``) gets them on demand, exactly as the
per-line parser (:func:`kvcli.bulk.sources.ndjson.parse_line_object`) would have made them.

A block that is not all plain lines (metadata, a TTL, escapes in a key, a key starting with ``.``, a blank line,
CRLF endings, …) goes to the per-line parser whole, so the lane never changes what an import accepts or reports.
"""

from __future__ import annotations

from binascii import a2b_base64
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate, repeat

from kvcli.api.plain import plain_lines
from kvcli.bulk.records import Entry

#: what one entry adds to the estimated request size (kvcli.bulk.batching.encoded_size: braces, names, quotes)
LINE_OVERHEAD = 64


class LineRun:
    """Consecutive plain batch lines of one input (see :func:`scan`), as a read-only sequence of entries.

    ``keys`` are the keys, ``values`` the base64 values and ``lines`` the lines without their line break, all in
    input order; the first line is line ``first_line`` of ``file``, record ``first_ordinal``, and starts at byte
    ``start_offset``. Every entry is valid by the key rules and its base64 is valid; only its size is left to
    check against the value limit (:meth:`max_value_bytes`).
    """

    __slots__ = ("keys", "values", "lines", "file", "first_line", "first_ordinal", "start_offset", "keep_wire")

    def __init__(self, keys: list[str], values: list[bytes], lines: list[bytes], file: str, first_line: int,
                 first_ordinal: int, start_offset: int, keep_wire: bool = True) -> None:
        self.keys = keys
        self.values = values
        self.lines = lines
        self.file = file
        self.first_line = first_line
        self.first_ordinal = first_ordinal
        self.start_offset = start_offset
        self.keep_wire = keep_wire

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __repr__(self) -> str:
        return f"<LineRun of {len(self)} lines from {self.file}:{self.first_line}>"

    # ------------------------------------------------------------------------------------------------ entries
    def _entry(self, i: int, end_offset: int) -> Entry:
        line = self.first_line + i
        return Entry(self.keys[i], a2b_base64(self.values[i], strict_mode=True), None, None, False, self.file, line,
                     self.first_ordinal + i, None, None, end_offset, line + 1,
                     self.lines[i] if self.keep_wire else None)

    def _end(self, count: int) -> int:
        """The byte offset just after the first ``count`` lines."""
        return self.start_offset + sum(map(len, self.lines[:count])) + count

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("a LineRun slices only with step 1")
            stop = max(start, stop)
            return LineRun(self.keys[start:stop], self.values[start:stop], self.lines[start:stop], self.file,
                           self.first_line + start, self.first_ordinal + start, self._end(start), self.keep_wire)
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("LineRun index out of range")
        return self._entry(index, self._end(index + 1))

    def __iter__(self) -> Iterator[Entry]:
        ends = accumulate((len(line) + 1 for line in self.lines), initial=self.start_offset)
        next(ends)
        for i, end in enumerate(ends):
            yield self._entry(i, end)

    def follows(self, other: LineRun) -> bool:
        """True when this run starts right where ``other`` ends (same input, next record)."""
        return (self.file == other.file and self.first_ordinal == other.first_ordinal + len(other)
                and self.first_line == other.first_line + len(other) and self.start_offset == other.end_offset())

    def joined(self, later: LineRun) -> LineRun:
        """This run followed by ``later`` (which :meth:`follows` it)."""
        return LineRun(self.keys + later.keys, self.values + later.values, self.lines + later.lines, self.file,
                       self.first_line, self.first_ordinal, self.start_offset, self.keep_wire)

    # ------------------------------------------------------------------------------------------------ figures
    def end_offset(self) -> int:
        """The byte offset just after the last line."""
        return self._end(len(self))

    def value_bytes(self) -> int:
        """The decoded size of all values (every value's length is a multiple of 4)."""
        padded = sum(map(bytes.endswith, self.values, repeat(b"="))) + sum(map(bytes.endswith, self.values,
                                                                                repeat(b"==")))
        return sum(map(len, self.values)) * 3 // 4 - padded

    def max_value_bytes(self) -> int:
        """An upper bound of the largest decoded value (exact up to its padding)."""
        return max(map(len, self.values), default=0) * 3 // 4

    def encoded_size(self, count: int | None = None) -> int:
        """The estimated request size of the first ``count`` entries (all by default), as
        :func:`kvcli.bulk.batching.encoded_size` estimates each."""
        keys, values = (self.keys, self.values) if count is None else (self.keys[:count], self.values[:count])
        return LINE_OVERHEAD * len(keys) + 2 * sum(map(len, keys)) + sum(map(len, values))

    def fitting(self, count: int, budget: int) -> tuple[int, int]:
        """(n, size): the most leading entries, at most ``count``, whose estimated size is at most ``budget``."""
        size = self.encoded_size(count)
        if size <= budget:
            return min(count, len(self)), size
        sizes = list(accumulate(LINE_OVERHEAD + 2 * len(k) + len(v)
                                for k, v in zip(self.keys[:count], self.values[:count], strict=True)))
        n = bisect_right(sizes, budget)
        return n, sizes[n - 1] if n else 0

    # ----------------------------------------------------------------------------------------------- the wire
    def wire_body(self) -> bytes:
        """The lines as one NDJSON batch request body."""
        return b"\n".join(self.lines) + b"\n"


def scan(data: bytes, file: str, first_line: int, first_ordinal: int, start_offset: int,
         keep_wire: bool = True) -> LineRun | None:
    """``data`` (whole lines, each ending in ``\\n``) as a :class:`LineRun` when every line is a plain batch line,
    else None (the caller parses it line by line)."""
    plain = plain_lines(data)
    if plain is None:
        return None
    lines, keys, values = plain
    return LineRun([k.decode("ascii") for k in keys], values, lines, file, first_line, first_ordinal, start_offset,
                   keep_wire)


#: the entries of a chunk
Entries = list[Entry] | LineRun


def keys_of(entries: Entries) -> list[str] | Iterator[str]:
    """The keys of a chunk's entries (a :class:`LineRun`'s without making its entries)."""
    if isinstance(entries, LineRun):
        return entries.keys
    return (e.key for e in entries)
