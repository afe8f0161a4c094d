"""The import pipeline: source → (resume filter) → validation → chunks → sink, with exact per-key accounting.

Everything is a generator, so memory holds at most the chunks in flight. The sink is ``api.put_batch`` on whatever
adapter is in use: the embedded engine writes a chunk in one transaction; the HTTP adapter sends it to the batch
endpoint (retrying 429/5xx/resets itself). Several chunks are in flight over HTTP (``concurrency``); a key is
never in two in-flight chunks at once, so duplicates in the input are written in input order.

Failures are attributed per key: bad records (with file and line), entries the backend rejected in its batch reply,
and whole chunks that failed. A chunk answered with 413 is split in halves and re-sent. An error that every further
chunk would hit too (transport failure, authentication, missing store, a rate limit that outlasted the retries, or
server errors on several chunks in a row) stops the import; what was acknowledged is
in the resume journal.
"""

from __future__ import annotations

import base64
import gc
import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from operator import attrgetter
from typing import IO

from kvcli.api.errors import (
    ApiError,
    AuthError,
    Interrupted,
    KvcliError,
    NotFound,
    RateLimited,
    ServerError,
    StorageError,
    TooLarge,
    TransportError,
)
from kvcli.bulk.batching import HTTP_MAX_BYTES, HTTP_MAX_ENTRIES, Chunk, batches, prefetch
from kvcli.bulk.interrupts import NO_GATE, InterruptGate
from kvcli.bulk.journal import Journal, ResumeState, skip_done
from kvcli.bulk.records import Bad, Entry, where
from kvcli.bulk.sources.base import Source
from kvcli.bulk.validate import validate

MAX_REPORTED_ERRORS = 1000
#: errors every further chunk would hit as well: stop instead of failing the rest one by one. A 429 gets here only
#: once the HTTP adapter's retries are spent: every further chunk would spend the whole retry budget again.
FATAL = (TransportError, AuthError, NotFound, RateLimited, StorageError)
#: chunks in a row failing whole with a 5xx (after the adapter's retries) that mean the backend is down: stop then
SERVER_ERROR_STREAK = 3


@dataclass
class ImportOptions:
    max_entries: int = HTTP_MAX_ENTRIES
    max_bytes: int = HTTP_MAX_BYTES
    concurrency: int = 4
    max_errors: int | None = None  # stop once more than this many entries failed (None: never)
    dry_run: bool = False  # validate only, send nothing
    encode_lines: bool = False  # pre-encode each entry's batch line (for the HTTP adapter; see Entry.wire)
    # applied to entries that do not set their own (--metadata, --ttl, --background-fetch on the command line)
    default_metadata: str | None = None
    default_ttl: int | None = None
    default_background_fetch: bool = False
    #: after Ctrl-C, how long to wait for the chunks already sent before giving up on knowing their outcome
    interrupt_wait: float = 30.0
    max_value_bytes: int | None = None  # the value size limit (None: KVCLI_MAX_VALUE_BYTES, else 25 MiB)
    tune_gc: bool = True  # raise gc's young-generation threshold while running (the CLI; the library does not)


@dataclass
class ImportReport:
    format: str = ""
    source: str = ""
    written: int = 0
    failed: int = 0  # all failures: invalid + rejected by the backend
    invalid: int = 0  # rejected before sending (parse or validation errors)
    skipped: int = 0  # done by an earlier run (--resume)
    valid: int = 0  # entries that passed validation (what a dry run would write)
    bytes: int = 0  # value bytes written
    chunks: int = 0
    errors: list[dict] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS failures
    errors_omitted: int = 0
    stopped: str | None = None  # why the import stopped before the end of its input
    resumed: bool = False
    earlier_written: int = 0
    earlier_failed: int = 0
    dry_run: bool = False
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: chunks sent but not answered when an interrupted import stopped waiting: they may or may not be stored
    in_flight: list[dict] = field(default_factory=list)

    @property
    def in_flight_entries(self) -> int:
        return sum(c["entries"] for c in self.in_flight)

    def add_in_flight(self, chunk: Chunk) -> None:
        first, last = chunk.entries[0], chunk.entries[-1]
        where_ = f"{first.file}:{first.line}-{last.line}" if first.line is not None and last.line is not None \
            else f"{first.key!r} … {last.key!r}"
        self.in_flight.append({"entries": len(chunk.entries), "where": where_, "first_key": first.key,
                               "last_key": last.key, "line": first.line, "last_line": last.line})

    @property
    def complete(self) -> bool:
        return self.stopped is None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.stopped is None

    def add_error(self, *, key: str | None, file: str, line: int | None, code: str, reason: str) -> None:
        self.failed += 1
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            self.errors_omitted += 1
            return
        err: dict[str, object] = {
            "code": code, "detail": reason, "title": f"error at {where(file, line)}", "key": key, "file": file,
        }
        if line is not None:
            err["line"] = line
        self.errors.append(err)

    def add_batch_error(self, entries: list[Entry], *, code: str, reason: str) -> None:
        """Every entry of a batch failed for one cause (the request failed): one error, with the range it covered."""
        self.failed += len(entries)
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            self.errors_omitted += 1
            return
        first, last = entries[0], entries[-1]
        if first.file == last.file and first.line is not None and last.line is not None:
            lines = f"{first.line}-{last.line}" if last.line != first.line else str(first.line)
            place = f"{first.file}:{lines}"
        else:
            place = f"{self.source} (keys {first.key!r} … {last.key!r})"
        err: dict = {"code": code, "detail": reason, "title": f"error at {place}", "key": None, "file": first.file,
                     "entries": len(entries), "first_key": first.key, "last_key": last.key}
        if first.line is not None:
            err["line"] = first.line
        if last.line is not None:
            err["last_line"] = last.line
        self.errors.append(err)

    def to_json(self) -> dict:
        """The official ``{"success", "errors"}`` shape plus counts."""
        out = {
            "success": self.ok,
            "errors": self.errors,
            "written": self.written,
            "failed": self.failed,
            "invalid": self.invalid,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "format": self.format,
            "source": self.source,
            "complete": self.complete,
            "stopped": self.stopped,
            "elapsed_seconds": round(self.elapsed, 3),
        }
        if self.errors_omitted:
            out["errors_omitted"] = self.errors_omitted
        if self.in_flight:
            out["in_flight"] = self.in_flight
        if self.resumed:
            out["resumed"] = True
            out["earlier_written"] = self.earlier_written
            out["earlier_failed"] = self.earlier_failed
        if self.dry_run:
            out["dry_run"] = True
            out["valid"] = self.valid
        return out


# ---------------------------------------------------------------------------------------------- failed-out
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def entry_line(entry: Entry) -> str | None:
    """The Fastly batch line for an entry (None when its value was never read)."""
    if entry.value is None:
        return None
    obj: dict = {"key": entry.key, "value": base64.b64encode(entry.value).decode("ascii")}
    if entry.metadata is not None:
        obj["metadata"] = entry.metadata
    if entry.ttl is not None:
        obj["time_to_live_sec"] = entry.ttl
    if entry.background_fetch:
        obj["background_fetch"] = True
    return _encode(obj)


class FailedOut:
    """``--failed-out FILE``: every failed entry as a Fastly batch line, ready to be fixed and fed back in."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.count = 0

    def write_entry(self, entry: Entry) -> None:
        line = entry_line(entry)
        if line is not None:
            self.fh.write(line + "\n")
            self.count += 1

    def write_bad(self, bad: Bad) -> None:
        if bad.entry is not None:
            self.write_entry(bad.entry)
        elif bad.raw is not None:  # an NDJSON line that could not be parsed: written as it was, for fixing
            self.fh.write(bad.raw + "\n")
            self.count += 1


# ---------------------------------------------------------------------------------------------------- sink
@dataclass
class BatchFailure:
    """A request that failed as a whole (after the adapter's retries): all its entries failed for one cause."""

    entries: list[Entry]
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


def send_entries(api, store_id: str, entries: list[Entry]) -> tuple[int, list[Failure | BatchFailure]]:
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


def encode_wire(entries: list[Entry]) -> None:
    """Give every entry its batch line (done in the sending thread, so encoding overlaps reading)."""
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


# ---------------------------------------------------------------------------------------------- pipeline
def _with_defaults(records, opts: ImportOptions):
    for rec in records:
        if isinstance(rec, Entry):
            if rec.metadata is None and opts.default_metadata is not None:
                rec.metadata = opts.default_metadata
                rec.wire = None
            if rec.ttl is None and opts.default_ttl is not None:
                rec.ttl = opts.default_ttl
                rec.wire = None
            if opts.default_background_fetch and not rec.background_fetch:
                rec.background_fetch = True
                rec.wire = None
        yield rec


class Importer:
    """Runs one import and accounts for every record. The CLI renders :attr:`report`; nothing here prints."""

    def __init__(
        self,
        api,
        store_id: str,
        source: Source,
        *,
        options: ImportOptions | None = None,
        journal: Journal | None = None,
        resume: ResumeState | None = None,
        failed_out: FailedOut | None = None,
        on_progress: Callable[[ImportReport], None] | None = None,
        inline: bool | None = None,
        interrupts: InterruptGate = NO_GATE,
        on_interrupt: Callable[[int], None] | None = None,
    ) -> None:
        self.api = api
        #: where Ctrl-C may stop the import (the CLI defers it to points where nothing is half-accounted)
        self.interrupts = interrupts
        #: called with the number of chunks in flight when an interrupt makes the import wait for them
        self.on_interrupt = on_interrupt
        self.finished = False  # the import reached the end of its input
        self.store_id = store_id
        self.source = source
        self.options = options or ImportOptions()
        if self.options.concurrency <= 1 and not self.options.encode_lines:
            source.keep_wire = False  # the embedded engine never uses the lines: do not hold them
        self.journal = journal
        self.resume_state = resume
        self.failed_out = failed_out
        self.on_progress = on_progress
        # the embedded engine is a single writer: sending from this thread is fastest
        self.inline = (self.options.concurrency <= 1) if inline is None else inline
        self.report = ImportReport(format=source.format, source=source.label, dry_run=self.options.dry_run)
        #: the error that stopped the import early (transport, auth, missing store, unreadable input), if any
        self.fatal: KvcliError | None = None
        self._skip_counter = [0]
        self._server_streak = 0

    # ----------------------------------------------------------------------------------------- accounting
    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report)

    def _over_limit(self) -> bool:
        limit = self.options.max_errors
        return limit is not None and self.report.failed > limit

    def _bad(self, bad: Bad) -> None:
        r = self.report
        r.invalid += 1
        r.add_error(key=bad.key, file=bad.file, line=bad.line, code=bad.code, reason=bad.reason)
        if self.failed_out is not None:
            self.failed_out.write_bad(bad)

    def _outcome(self, out: ChunkOutcome) -> None:
        # every entry failed because the requests failed with a 5xx (after the adapter's retries)
        server_down = out.fatal is None and out.chunk.entries and out.written == 0 and not out.failures and \
            out.batch_failures and all(b.server_side for b in out.batch_failures)
        if server_down:
            self._server_streak += 1
            if self._server_streak >= SERVER_ERROR_STREAK:  # the backend is down: stop; --resume re-sends this chunk
                first = out.batch_failures[0]
                reason = first.reason.removeprefix("batch request failed: ")
                out.fatal = ServerError(f"{SERVER_ERROR_STREAK} chunks in a row failed: {reason}",
                                        "the API is failing; try again later",
                                        status=int(first.code) if first.code.isdigit() else None)
                out.batch_failures = []
        elif out.fatal is None:
            self._server_streak = 0
        r = self.report
        r.chunks += 1
        r.written += out.written
        failed_bytes = 0
        for batch in out.batch_failures:
            r.add_batch_error(batch.entries, code=batch.code, reason=batch.reason)
            for entry in batch.entries:
                failed_bytes += len(entry.value or b"")
                if self.failed_out is not None:
                    self.failed_out.write_entry(entry)
        for failed, code, reason in out.failures:
            if failed is None:
                r.add_error(key=None, file=self.source.label, line=None, code=code, reason=reason)
                continue
            failed_bytes += len(failed.value or b"")
            r.add_error(key=failed.key, file=failed.file, line=failed.line, code=code, reason=reason)
            if self.failed_out is not None:
                self.failed_out.write_entry(failed)
        if out.fatal is None:  # a chunk stopped by a fatal error wrote nothing
            r.bytes += out.chunk.value_bytes - failed_bytes
        # a chunk refused whole by a failing server is not recorded as done: --resume sends it again
        if out.fatal is None and self.journal is not None and not server_down:
            self.journal.record(out.chunk, out.written, out.failed + len(out.chunk.bad))

    # -------------------------------------------------------------------------------------------- running
    def _records(self):
        state = self.resume_state
        start = None
        if state is not None:
            self.report.resumed = True
            self.report.earlier_written = state.written
            self.report.earlier_failed = state.failed
            if state.point is not None and state.point.offset is not None and self.source.seekable:
                start = state.point
                self._skip_counter[0] = start.ordinal
        records = self.source.records(start=start)
        if state is not None and state.ranges:
            records = skip_done(records, state, self._skip_counter)
        opts = self.options
        if opts.default_metadata is not None or opts.default_ttl is not None or opts.default_background_fetch:
            records = _with_defaults(records, opts)
        return validate(records, max_value_bytes=opts.max_value_bytes)

    def run(self) -> ImportReport:
        t0 = time.monotonic()
        r = self.report
        opts = self.options
        chunks = batches(self._records(), max_entries=opts.max_entries, max_bytes=opts.max_bytes)
        finished = False
        # entries live until their chunk is written: a larger young generation stops the collector from promoting
        # and re-scanning them (a tenth of the CPU time of a large import otherwise)
        thresholds = gc.get_threshold()
        if opts.tune_gc:
            gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
        try:
            if self.inline or opts.dry_run:
                self._run_inline(prefetch(chunks) if self.inline and not opts.dry_run else chunks)
            else:
                self._run_pool(chunks)
            finished = r.stopped is None
        finally:
            if opts.tune_gc:
                gc.set_threshold(*thresholds)
            r.skipped = self._skip_counter[0]
            r.elapsed = time.monotonic() - t0
            r.notes = list(self.source.notes)
            if self.failed_out is not None:
                self.failed_out.fh.flush()
            self.finished = finished
            if self.journal is not None:
                if finished:
                    self.journal.mark_done()  # nothing left to resume
                self.journal.close()
        return r

    def _admit(self, chunk: Chunk) -> bool:
        """Account for the chunk's bad records; False when the error limit says stop."""
        for bad in chunk.bad:
            self._bad(bad)
            if self._over_limit():
                self.report.stopped = f"more than {self.options.max_errors} entries failed (--max-errors)"
                return False
        self.report.valid += len(chunk.entries)
        return True

    def _unreadable(self, exc: OSError) -> KvcliError:
        return KvcliError(f"reading {self.source.label} failed: {exc.strerror or exc}",
                          "check the input, then run the import again; --resume continues a file import")

    def _stop_fatal(self, exc: KvcliError) -> None:
        if self.report.stopped is None:
            self.report.stopped = exc.message
        self.fatal = exc

    def _next(self, it):
        """The next chunk (None at the end); reading is a point where Ctrl-C may stop the import at once."""
        with self.interrupts.open():
            return next(it, None)

    def _run_inline(self, chunks) -> None:
        it = iter(chunks)
        try:
            while (chunk := self._next(it)) is not None:
                # from here to the next _next(), a Ctrl-C waits: the chunk's write and its accounting are one step
                if not self._admit(chunk):
                    break
                if self.options.dry_run:
                    self._progress()
                    continue
                if not chunk.entries:
                    if self.journal is not None:
                        self.journal.record(chunk, 0, len(chunk.bad))
                    self._progress()
                    continue
                out = send_chunk(self.api, self.store_id, chunk, self.options.encode_lines)
                self._outcome(out)
                self._progress()
                if out.fatal is not None:
                    self._stop_fatal(out.fatal)
                    break
                if self._over_limit():
                    self.report.stopped = f"more than {self.options.max_errors} entries failed (--max-errors)"
                    break
        except KeyboardInterrupt:
            self.report.stopped = "interrupted"
            raise Interrupted("import interrupted") from None
        except KvcliError as exc:  # the source cannot be read further
            self._stop_fatal(exc)
        except OSError as exc:  # reading the input failed part-way (a dying pipe, a disk error)
            self._stop_fatal(self._unreadable(exc))
        finally:
            _close(it)  # stops a prefetching reader thread now, not whenever the generator is collected

    def _run_pool(self, chunks) -> None:
        opts = self.options
        gate = self.interrupts
        pool = ThreadPoolExecutor(max_workers=opts.concurrency, thread_name_prefix="kvcli-import")
        pending: dict[Future, Chunk] = {}  # every chunk handed to the pool and not yet accounted for
        # the keys of each chunk in flight (a set built in C: a few chunks are in flight, so checking a new chunk
        # against each of them beats a dict entry per key, which cost a fifth of an NDJSON import's CPU time)
        inflight_keys: dict[Future, set[str]] = {}
        key_of = attrgetter("key")

        def collect(done) -> None:
            for fut in done:
                chunk = pending.pop(fut)
                inflight_keys.pop(fut, None)
                try:
                    out = fut.result()
                except KvcliError as exc:  # pragma: no cover - send_chunk catches what it expects
                    out = ChunkOutcome(chunk, fatal=exc)
                self._outcome(out)
                if out.fatal is not None:
                    self._stop_fatal(out.fatal)
            self._progress()

        def wait_open(futures, **kw):
            with gate.open():  # waiting is a point where Ctrl-C may stop the import at once
                return wait(futures, **kw)[0]

        it = iter(chunks)
        try:
            try:
                while (chunk := self._next(it)) is not None:
                    if not self._admit(chunk):
                        break
                    if not chunk.entries:
                        if self.journal is not None:
                            self.journal.record(chunk, 0, len(chunk.bad))
                        continue
                    # a key still in flight in an earlier chunk must be written first (input order wins)
                    keys = set(map(key_of, chunk.entries))
                    blockers = [f for f, busy in inflight_keys.items() if not keys.isdisjoint(busy)]
                    if blockers:
                        collect(wait_open(blockers))
                    fut = pool.submit(send_chunk, self.api, self.store_id, chunk, opts.encode_lines)
                    pending[fut] = chunk
                    inflight_keys[fut] = keys
                    while len(pending) >= opts.concurrency:
                        collect(wait_open(list(pending), return_when=FIRST_COMPLETED))
                    if self.fatal is not None or self._over_limit():
                        break
            except KvcliError as exc:  # the source cannot be read further
                self._stop_fatal(exc)
            except OSError as exc:  # reading the input failed part-way (a dying pipe, a disk error)
                self._stop_fatal(self._unreadable(exc))
            if self._over_limit() and self.report.stopped is None:
                self.report.stopped = f"more than {opts.max_errors} entries failed (--max-errors)"
            while pending:
                collect(wait_open(list(pending), return_when=FIRST_COMPLETED))
            pool.shutdown(wait=True)
        except KeyboardInterrupt:
            self.report.stopped = "interrupted"
            gate.acknowledge()
            pool.shutdown(wait=False, cancel_futures=True)
            for f in [f for f in pending if f.cancelled()]:  # never started: nothing was sent
                pending.pop(f)
            # the chunks already sent are waited for and accounted for; a second Ctrl-C (or a long wait) stops
            # waiting, and the summary names the chunks left in flight (--resume sends them again)
            try:
                if pending and self.on_interrupt is not None:
                    self.on_interrupt(len(pending))
                with gate.open():
                    wait(list(pending), timeout=opts.interrupt_wait)
            except KeyboardInterrupt:
                pass
            collect([f for f in list(pending) if f.done()])
            for chunk in sorted(pending.values(), key=lambda c: c.start):
                self.report.add_in_flight(chunk)
            if pending:
                from kvcli.bulk import interrupts

                interrupts.abandoned_threads = True
            raise Interrupted("import interrupted") from None
        finally:
            _close(it)


def _close(it) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()
