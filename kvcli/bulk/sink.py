"""The sink of an import: one chunk to ``api.put_batch``, with per-key accounting of what the backend rejected, a
chunk answered with 413 split in halves and re-sent, and the errors every further chunk would hit (``FATAL``)
propagated for the importer to stop on.
"""

from __future__ import annotations

from kvcli.api.errors import (
    ApiError,
    AuthError,
    KvcliError,
    NotFound,
    RateLimited,
    StorageError,
    TooLarge,
    TransportError,
)
from kvcli.bulk.batching import Chunk
from kvcli.bulk.failed import entry_line
from kvcli.bulk.lines import Entries, LineRun
from kvcli.bulk.records import Entry
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

#: errors every further chunk would hit as well: stop instead of failing the rest one by one. A 429 gets here only
#: once the HTTP adapter's retries are spent: every further chunk would spend the whole retry budget again.
FATAL = (TransportError, AuthError, NotFound, RateLimited, StorageError)


@dataclass
class BatchFailure:
    """A request that failed as a whole (after the adapter's retries): all its entries failed for one cause."""

    entries: Entries
    code: str
    reason: str

    @property
    def server_side(self) -> bool:
        return self.code.startswith("5")


Failure = tuple[Entry | None, str, str]  # one entry the backend rejected: (entry, code, reason)


@dataclass
class ChunkOutcome:
    chunk: Chunk
    written: int = 0
    failures: list[Failure] = field(default_factory=list)
    batch_failures: list[BatchFailure] = field(default_factory=list)
    fatal: KvcliError | None = None

    @property
    def failed(self) -> int:
        return len(self.failures) + sum(len(b.entries) for b in self.batch_failures)


def _code(exc: KvcliError) -> str:
    status = getattr(exc, "status", 0)
    return str(status) if status else type(exc).__name__


def send_entries(api, store_id: str, entries: Entries) -> tuple[int, list[Failure | BatchFailure]]:
    """Write entries with one put_batch call; split on 413. Returns (written, failures); FATAL errors propagate.

    A request that failed as a whole is one :class:`BatchFailure`; entries the backend rejected one by one are
    ``(entry, code, reason)`` tuples.

    :class:`Entry` has the attributes of :class:`~kvcli.api.models.BatchEntry` (key, value, metadata, ttl,
    background_fetch), which is all adapters read, so chunks are passed as they are instead of being copied.
    """
    try:
        result = api.put_batch(store_id, entries)
    except FATAL:
        raise
    except TooLarge as exc:
        if len(entries) > 1:
            half = len(entries) // 2
            w1, f1 = send_entries(api, store_id, entries[:half])
            w2, f2 = send_entries(api, store_id, entries[half:])
            return w1 + w2, f1 + f2
        return 0, [(entries[0], _code(exc), exc.message)]
    except ApiError as exc:
        reason = exc.message + (f" ({exc.detail})" if exc.detail and exc.detail not in exc.message else "")
        return 0, [BatchFailure(entries, _code(exc), f"batch request failed: {reason}")]
    failures: list[Failure | BatchFailure] = []
    failed_idx: set[int] = set()
    by_key: dict[str, list[int]] | None = None
    for err in result.errors:
        idx = err.index if isinstance(err.index, int) and 0 <= err.index < len(entries) else None
        if idx is not None and err.key and entries[idx].key != err.key:
            idx = None
        if idx is None and err.key:
            if by_key is None:
                by_key = {}
                for i, e in enumerate(entries):
                    by_key.setdefault(e.key, []).append(i)
            idx = next((i for i in by_key.get(err.key, []) if i not in failed_idx), None)
        if idx is not None and idx in failed_idx:
            continue
        if idx is not None:
            failed_idx.add(idx)
        failures.append((entries[idx] if idx is not None else None, str(err.code or "400"), err.reason or "rejected"))
    written = len(entries) - len(failed_idx)
    return written, failures


def encode_wire(entries: Entries) -> None:
    """Give every entry its batch line (done in the sending thread, so encoding overlaps reading); a run's lines
    are its entries' batch lines already."""
    if isinstance(entries, LineRun):
        return
    for e in entries:
        if e.wire is None:
            e.wire = entry_line(e).encode("utf-8")  # type: ignore[union-attr]


def send_chunk(api, store_id: str, chunk: Chunk, encode: bool = False) -> ChunkOutcome:
    out = ChunkOutcome(chunk)
    if encode:
        encode_wire(chunk.entries)
    try:
        out.written, failures = send_entries(api, store_id, chunk.entries)
    except FATAL as exc:
        out.fatal = exc
        return out
    for f in failures:
        if isinstance(f, BatchFailure):
            out.batch_failures.append(f)
        else:
            out.failures.append(f)
    return out
