"""Group a record stream into chunks bounded by entry count and by encoded request size.

Each chunk covers a contiguous range of source ordinals, ``start``..``end``, including the bad records that fell
inside it. The ranges of successive chunks touch, so the union of acknowledged ranges is exactly "what is done"; the
resume journal records these ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kvcli.bulk.records import Bad, Entry, Record

#: defaults for the HTTP batch endpoint: well under what Fastly documents or was seen to accept
HTTP_MAX_ENTRIES = 1000
HTTP_MAX_BYTES = 8 * 1024 * 1024
#: defaults for the embedded engine: one transaction per chunk, bigger chunks mean fewer fsyncs
LOCAL_MAX_ENTRIES = 10_000
LOCAL_MAX_BYTES = 32 * 1024 * 1024
_LINE_OVERHEAD = 64  # braces, field names, quotes, commas and the newline of one NDJSON line


def encoded_size(entry: Entry) -> int:
    """An upper estimate of the entry's NDJSON line in a batch request (value in base64)."""
    n = len(entry.value) if entry.value is not None else (entry.size or 0)
    size = _LINE_OVERHEAD + 2 * len(entry.key) + 4 * ((n + 2) // 3)
    if entry.metadata:
        size += 2 * len(entry.metadata)
    return size


@dataclass
class Chunk:
    seq: int
    start: int  # first source ordinal this chunk accounts for
    end: int  # last source ordinal (inclusive)
    entries: list[Entry] = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)
    nbytes: int = 0  # estimated request size
    value_bytes: int = 0  # raw bytes of the values
    end_offset: int | None = None  # byte offset after the last record (NDJSON), for --resume
    end_line: int | None = None  # the line after the last record
    last_key: str | None = None  # key of the last record, checked when resuming


def batches(
    records: Iterable[Record],
    *,
    max_entries: int = HTTP_MAX_ENTRIES,
    max_bytes: int = HTTP_MAX_BYTES,
) -> Iterator[Chunk]:
    """Chunks of at most ``max_entries`` entries and about ``max_bytes`` encoded bytes (a single larger entry goes
    alone). Bad records ride along in the chunk they fall in, and also close a chunk when too many pile up."""
    seq = 0
    chunk: Chunk | None = None
    next_start = 0
    first = True
    for rec in records:
        if first:
            next_start = rec.ordinal
            first = False
        if chunk is None:
            chunk = Chunk(seq, next_start, rec.ordinal)
        if isinstance(rec, Entry):
            size = encoded_size(rec)
            if chunk.entries and (len(chunk.entries) >= max_entries or chunk.nbytes + size > max_bytes):
                yield chunk
                seq += 1
                next_start = chunk.end + 1
                chunk = Chunk(seq, next_start, rec.ordinal)
            chunk.entries.append(rec)
            chunk.nbytes += size
            chunk.value_bytes += len(rec.value) if rec.value is not None else 0
            chunk.last_key = rec.key
        else:
            chunk.bad.append(rec)
            chunk.last_key = rec.key
        chunk.end = rec.ordinal
        if rec.end_offset is not None:
            chunk.end_offset = rec.end_offset
            chunk.end_line = rec.next_line
        if len(chunk.bad) >= max_entries:
            yield chunk
            seq += 1
            next_start = chunk.end + 1
            chunk = None
    if chunk is not None:
        yield chunk
