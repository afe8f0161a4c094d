"""Group a record stream into chunks bounded by entry count and by encoded request size.

Each chunk covers a contiguous range of source ordinals, ``start``..``end``, including the bad records that fell
inside it. The ranges of successive chunks touch, so the union of acknowledged ranges is exactly "what is done"; the
resume journal records these ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kvcli.bulk.lines import LINE_OVERHEAD, LineRun
from kvcli.bulk.records import Bad, Entry, Record
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time
from kvcli.threads import worker_thread

#: defaults for the HTTP batch endpoint: well under what Fastly documents or was seen to accept
HTTP_MAX_ENTRIES = 1000
HTTP_MAX_BYTES = 8 * 1024 * 1024
#: defaults for the embedded engine: one transaction per chunk, bigger chunks mean fewer fsyncs
LOCAL_MAX_ENTRIES = 10_000
LOCAL_MAX_BYTES = 32 * 1024 * 1024
_LINE_OVERHEAD = LINE_OVERHEAD  # braces, field names, quotes, commas and the newline of one NDJSON line


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
    #: the entries to write: a list, or a :class:`~kvcli.bulk.lines.LineRun` (a sequence of entries made when
    #: asked for) when the chunk is all plain batch lines
    entries: list[Entry] | LineRun = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)
    nbytes: int = 0  # estimated request size
    value_bytes: int = 0  # raw bytes of the values
    end_offset: int | None = None  # byte offset after the last record (NDJSON), for --resume
    end_line: int | None = None  # the line after the last record
    last_key: str | None = None  # key of the last record, checked when resuming


def batches(
    records: Iterable[Record | LineRun],
    *,
    max_entries: int = HTTP_MAX_ENTRIES,
    max_bytes: int = HTTP_MAX_BYTES,
) -> Iterator[Chunk]:
    """Chunks of at most ``max_entries`` entries and about ``max_bytes`` encoded bytes (a single larger entry goes
    alone). Bad records ride along in the chunk they fall in, and also close a chunk when too many pile up.

    A :class:`~kvcli.bulk.lines.LineRun` is cut where its entries one by one would have been: a chunk made only of
    runs holds a run (its entries made when asked for), a chunk that mixes them with single entries a list."""
    seq = 0
    chunk: Chunk | None = None
    entries: list[Entry] | LineRun = []
    bad: list[Bad] = []
    nbytes = value_bytes = 0
    last: Record | LineRun | None = None
    next_start = -1

    def close() -> Chunk:
        assert chunk is not None and last is not None
        tail = last[-1] if isinstance(last, LineRun) else last
        chunk.entries, chunk.bad, chunk.nbytes, chunk.value_bytes = entries, bad, nbytes, value_bytes
        chunk.end = tail.ordinal
        chunk.last_key = tail.key
        if tail.end_offset is not None:
            chunk.end_offset, chunk.end_line = tail.end_offset, tail.next_line
        return chunk

    def after_last() -> int:
        assert last is not None
        return last.first_ordinal + len(last) if isinstance(last, LineRun) else last.ordinal + 1

    for rec in records:
        if isinstance(rec, LineRun):
            run: LineRun | None = rec
            while run:
                if next_start < 0:
                    next_start = run.first_ordinal
                n = 0
                if not entries or len(entries) < max_entries:
                    n, size = run.fitting(max_entries - len(entries), max_bytes - nbytes)
                if n == 0 and entries:
                    yield close()
                    seq += 1
                    next_start = after_last()
                    chunk = None
                    entries, bad, nbytes, value_bytes = [], [], 0, 0
                    continue
                if n == 0:  # a single entry larger than max_bytes goes alone
                    n, size = 1, run.encoded_size(1)
                piece, run = (run, None) if n >= len(run) else (run[:n], run[n:])
                if chunk is None:
                    chunk = Chunk(seq, next_start, piece.first_ordinal)
                if not entries:
                    entries = piece
                elif isinstance(entries, LineRun) and piece.follows(entries):
                    entries = entries.joined(piece)
                else:
                    entries = list(entries) if isinstance(entries, LineRun) else entries
                    entries.extend(piece)
                nbytes += size
                value_bytes += piece.value_bytes()
                last = piece
            continue
        if next_start < 0:
            next_start = rec.ordinal
        if type(rec) is Entry:
            value = rec.value
            n = len(value) if value is not None else (rec.size or 0)
            size = _LINE_OVERHEAD + 2 * len(rec.key) + 4 * ((n + 2) // 3)
            if rec.metadata:
                size += 2 * len(rec.metadata)
            if entries and (len(entries) >= max_entries or nbytes + size > max_bytes):
                yield close()
                seq += 1
                next_start = after_last()
                chunk = None
                entries, bad, nbytes, value_bytes = [], [], 0, 0
            if chunk is None:
                chunk = Chunk(seq, next_start, rec.ordinal)
            entries = list(entries) if isinstance(entries, LineRun) else entries
            entries.append(rec)
            nbytes += size
            value_bytes += n
        else:
            if chunk is None:
                chunk = Chunk(seq, next_start, rec.ordinal)
            bad.append(rec)  # type: ignore[arg-type]
        last = rec
        if len(bad) >= max_entries:
            yield close()
            seq += 1
            next_start = rec.ordinal + 1
            chunk = None
            entries, bad, nbytes, value_bytes = [], [], 0, 0
    if chunk is not None:
        yield close()


class _Done:
    pass


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Produce ``items`` in a background thread, at most ``depth`` ahead of the consumer.

    The embedded engine releases the GIL while SQLite writes a chunk, so parsing the next chunk meanwhile overlaps
    the two. An exception in the producer is re-raised in the consumer; closing the generator stops the producer.
    """
    import queue
    import threading
    import time

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = _Done()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((done, exc))
            return
        put((done, None))

    thread = worker_thread(produce, "kvcli-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if type(item) is tuple and len(item) == 2 and item[0] is done:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        # the producer must be gone before the interpreter can exit: a daemon thread still inside a read of a
        # buffered stream then aborts the process ("_enter_buffered_busy"). It notices ``stop`` at its next put;
        # a read blocked on a pipe is made to give up by the reader (see sources.base.CancellableReader).
        deadline = time.monotonic() + 5
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                thread.join(timeout=0.1)
            except KeyboardInterrupt:  # a second Ctrl-C: still wait for the reader thread
                continue
