"""What flows through a bulk pipeline: parsed entries and bad-entry records, both carrying their provenance.

Every record has an ``ordinal``: its position in the source (0, 1, 2, … over good and bad records alike). Ordinals
are stable across runs of the same source, which is what lets ``--resume`` skip what an earlier run finished.
"""

from __future__ import annotations

from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time


def where(file: str, line: int | None) -> str:
    """``file:line`` (or just ``file`` when there is no line, e.g. a file of a directory import)."""
    return f"{file}:{line}" if line is not None else file


@dataclass(slots=True)
class Entry:
    """One entry to write. ``value`` is None until a lazy entry (a file of a directory) is loaded.

    The first five fields have the names of :class:`kvcli.api.models.BatchEntry`'s, so a list of entries can be
    handed to ``put_batch`` without copying.
    """

    key: str
    value: bytes | None
    metadata: str | None = None
    ttl: int | None = None
    background_fetch: bool = False
    file: str = ""
    line: int | None = None
    ordinal: int = 0
    path: str | None = None  # read the value from this file when it is needed (directory sources)
    size: int | None = None  # size known before reading (directory sources: from stat)
    end_offset: int | None = None  # byte offset just after this record in its source (NDJSON; used by --resume)
    next_line: int | None = None  # the line number at end_offset
    #: this entry as one Fastly batch line, when already known (an NDJSON line read as is, or encoded by the
    #: pipeline). The HTTP adapter sends it instead of encoding the entry again; anything that changes a field must
    #: reset it to None.
    wire: bytes | None = None

    @property
    def where(self) -> str:
        return where(self.file, self.line)


@dataclass(slots=True)
class Bad:
    """A record that cannot be written, with the reason and where it came from.

    ``entry`` is the parsed entry when there is one (so ``--failed-out`` can write it back out for fixing);
    ``raw`` is the source text when the record could not even be parsed (NDJSON lines only).
    """

    reason: str
    file: str
    line: int | None
    ordinal: int
    key: str | None = None
    code: str = "invalid"
    entry: Entry | None = None
    raw: str | None = None
    end_offset: int | None = None
    next_line: int | None = None

    @property
    def where(self) -> str:
        return where(self.file, self.line)


Record = Entry | Bad
