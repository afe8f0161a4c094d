"""The NDJSON source's units of input: blocks of whole lines, and the lines of a block stream one at a time (for
joining a multi-line object) (used by :mod:`kvcli.bulk.sources.ndjson`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator


class Block:
    """Whole lines of the input (each ending in ``\\n``): the first is line ``line`` and starts at byte ``offset``."""

    __slots__ = ("line", "offset", "data", "count")

    def __init__(self, line: int, offset: int, data: bytes) -> None:
        self.line = line
        self.offset = offset
        self.data = data
        self.count: int | None = None  # how many lines it holds, once known

    def line_count(self) -> int:
        if self.count is None:
            self.count = self.data.count(b"\n")
        return self.count

    def split(self) -> list[tuple[int, int, bytes]]:
        """``(line number, end offset, text without its line break)`` for each line."""
        parts = self.data.split(b"\n")
        parts.pop()
        self.count = len(parts)
        out = []
        line, end = self.line, self.offset
        for text in parts:
            end += len(text) + 1
            out.append((line, end, text))
            line += 1
        return out


class LineFeed:
    """The lines of a unit stream one at a time (for joining a multi-line object), blocks split as needed; lines
    pushed back onto ``pending`` come first."""

    def __init__(self, units: Iterator[Block | tuple[int, int, bytes]]) -> None:
        self.units = units
        self.pending: deque[tuple[int, int, bytes]] = deque()

    def next_line(self) -> tuple[int, int, bytes] | None:
        while not self.pending:
            unit = next(self.units, None)
            if unit is None:
                return None
            if not isinstance(unit, Block):
                return unit
            self.pending.extend(unit.split())
        return self.pending.popleft()
