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

import gc
import time
from collections.abc import Callable

from kvcli.api.errors import (
    Interrupted,
    KvcliError,
    ServerError,
)
from kvcli.bulk.batching import HTTP_MAX_BYTES, HTTP_MAX_ENTRIES, Chunk, batches, prefetch
from kvcli.bulk.failed import FailedOut, entry_line  # noqa: F401 - entry_line: kept importable from here
from kvcli.bulk.import_report import MAX_REPORTED_ERRORS, ImportReport  # noqa: F401 - the report's home
from kvcli.bulk.interrupts import NO_GATE, InterruptGate
from kvcli.bulk.journal import Journal, ResumeState, skip_done
from kvcli.bulk.lines import keys_of
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sink import FATAL, ChunkOutcome, send_chunk  # noqa: F401 - FATAL: also importable from here
from kvcli.bulk.sources.base import Source
from kvcli.bulk.validate import validate
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time
from kvcli.threads import FIRST_COMPLETED, Future, wait, worker_pool

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
        opts = self.options
        skipping = state is not None and bool(state.ranges)
        defaults = opts.default_metadata is not None or opts.default_ttl is not None or opts.default_background_fetch
        # runs of plain lines (kvcli.bulk.lines) where nothing below looks at each record
        records = self.source.records(start=start) if skipping or defaults else self.source.runs(start=start)
        if skipping:
            records = skip_done(records, state, self._skip_counter)
        if defaults:
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
                self._stop_over_limit()
                return False
        self.report.valid += len(chunk.entries)
        return True

    def _unreadable(self, exc: OSError) -> KvcliError:
        return KvcliError(f"reading {self.source.label} failed: {exc.strerror or exc}",
                          "check the input, then run the import again", reason="input_unreadable")

    def _stop_over_limit(self) -> None:
        self.report.stopped = f"more than {self.options.max_errors} entries failed (the limit of failed entries)"
        self.report.stop_reason = "max_errors"

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
                    self._stop_over_limit()
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
        pool = worker_pool(opts.concurrency, "kvcli-import")
        pending: dict[Future, Chunk] = {}  # every chunk handed to the pool and not yet accounted for
        # the keys of each chunk in flight (a set built in C: a few chunks are in flight, so checking a new chunk
        # against each of them beats a dict entry per key, which cost a fifth of an NDJSON import's CPU time)
        inflight_keys: dict[Future, set[str]] = {}

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
                    keys = set(keys_of(chunk.entries))
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
                self._stop_over_limit()
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
