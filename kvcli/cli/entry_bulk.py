"""Bulk import of ``kv-store-entry create --file/--stdin/--dir``: the command's flags (:class:`ImportFlags`) become an
:class:`kvcli.ops.imports.ImportRequest`, :class:`kvcli.ops.imports.ImportJob` does the work, and this module says
what it found and renders the report (``export`` and ``sync`` are :mod:`kvcli.cli.entry_export` and
:mod:`kvcli.cli.entry_sync`).

Only light modules are imported at load time: the bulk pipeline and rich are imported when a bulk command runs.
"""

from __future__ import annotations

import sys
import threading

from kvcli.api.errors import KvcliError, PartialFailure, UsageError
from kvcli.cli.bulk_progress import Progress, human_bytes, positive
from kvcli.cli.bulk_progress import progress_enabled as _progress_enabled
from kvcli.cli.bulk_progress import sigterm_as_interrupt as _sigterm_as_interrupt  # noqa: F401 - its old home
from kvcli.cli.core import resolve_store_id
from kvcli.cli.numbers import count, num
from kvcli.cli.state import Output, State
from kvcli.records import dataclass, replace  # dataclasses' semantics, a fraction of the import time

IMPORT_DEFAULT_CONCURRENCY = 4  # kvcli.ops.imports.DEFAULT_CONCURRENCY


@dataclass(frozen=True, kw_only=True)
class ImportFlags:
    """The flags of ``kv-store-entry create`` as the bulk import sees them (a misspelled one is a TypeError)."""

    store_id: str | None = None
    store_name: str | None = None
    file: str | None = None
    stdin: bool = False
    dir: str | None = None
    dir_allow_hidden: bool = False
    dir_concurrency: int | None = None
    json_out: bool = False
    key: str | None = None
    value: str | None = None
    value_file: str | None = None
    add: bool = False
    append: bool = False
    prepend: bool = False
    if_generation_match: int | None = None
    metadata: str | None = None
    ttl: int | None = None
    background_fetch: bool = False
    format: str | None = None
    recursive: bool = False
    concurrency: int | None = None
    max_errors: int | None = None
    failed_out: str | None = None
    resume: bool = False
    toml_store: str | None = None
    batch_size: int | None = None
    batch_bytes: int | None = None
    dry_run: bool = False


def _check_flags(f: ImportFlags) -> None:
    single = [("--key", f.key is not None), ("--value", f.value is not None),
              ("--value-file", f.value_file is not None), ("--add", f.add), ("--append", f.append),
              ("--prepend", f.prepend), ("--if-generation-match", f.if_generation_match is not None)]
    for name, on in single:
        if on:
            raise UsageError(
                f"{name} cannot be used with a bulk import (--file, --stdin or --dir)",
                "the batch endpoint only upserts; drop the flag, or write keys one by one",
            )
    if f.recursive and f.dir is None:
        raise UsageError("--recursive only applies to --dir")
    if f.dir_allow_hidden and f.dir is None:
        raise UsageError("--dir-allow-hidden only applies to --dir")
    if f.resume and f.stdin:
        raise UsageError("--resume cannot be used with --stdin (stdin cannot be re-read)", "save the input to a file")
    if f.resume and f.dry_run:
        raise UsageError("--resume and --dry-run cannot be combined", "drop one of them")
    positive("--concurrency", f.concurrency)
    positive("--dir-concurrency", f.dir_concurrency)
    positive("--batch-size", f.batch_size)
    positive("--batch-bytes", f.batch_bytes)
    if f.max_errors is not None and f.max_errors < 0:
        raise UsageError(f"--max-errors cannot be negative (got {f.max_errors})")
    if f.metadata is not None:
        from kvcli.api import validation

        validation.check_metadata(f.metadata)


def _say_journal(out: Output, status: str | None, job) -> None:
    """What the job found of an earlier run of this input, in the CLI's words."""
    from kvcli.ops import imports as op

    if status == op.ALREADY_DONE:
        out.message("An earlier run finished this import; nothing is left to resume")
    elif status == op.RESUMED:
        done = job.resume_state.done
        out.message(f"Resuming: {count(done, 'record')} {'was' if done == 1 else 'were'} done by an earlier run")
    elif status == op.CHANGED:
        out.message("The input changed since the interrupted import, so its journal is not used; importing everything")
    elif status == op.NOTHING_TO_RESUME:
        out.message("Nothing to resume for this input; importing everything")
    elif status == op.UNFINISHED_FOUND:
        out.message("An unfinished earlier import of this input was found; starting over (use --resume to continue it "
                    "instead)")
    elif status == op.NOT_RESUMABLE:
        out.message("This input cannot be resumed; importing everything")


# ------------------------------------------------------------------------------------------------------ import
def run_import(state: State, flags: ImportFlags) -> int:
    """Bulk import for ``kv-store-entry create --file/--stdin/--dir``. Returns the exit code (0); failures raise."""
    from kvcli.api.errors import Interrupted
    from kvcli.bulk.interrupts import SignalGate
    from kvcli.ops import imports as op

    out = state.out

    f = flags
    _check_flags(f)
    stream = None
    stop_reading = threading.Event()
    if f.stdin:
        try:
            tty = sys.stdin.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            raise UsageError("unable to read from STDIN", "provide data to STDIN, or use --file to read from a file")
        from kvcli.bulk.sources.base import cancellable_stdin

        # a reader thread blocked on stdin is told to give up when Ctrl-C comes (see SignalGate(on_signal=…))
        stream = cancellable_stdin(sys.stdin.buffer, stop_reading)
    concurrency = f.concurrency
    if concurrency is None:
        concurrency = f.dir_concurrency if (f.dir is not None and f.dir_concurrency is not None
                                            and f.dir_concurrency != 50) else IMPORT_DEFAULT_CONCURRENCY
    request = op.ImportRequest(
        file=f.file, stream=stream, directory=f.dir, format=f.format, toml_store=f.toml_store, recursive=f.recursive,
        allow_hidden=f.dir_allow_hidden, batch_entries=f.batch_size, batch_bytes=f.batch_bytes,
        concurrency=concurrency, max_errors=f.max_errors, dry_run=f.dry_run, resume=f.resume, metadata=f.metadata,
        ttl=f.ttl, background_fetch=f.background_fetch, tune_gc=True,
    )
    job = op.ImportJob(request)
    note = job.open_source()
    if note:
        out.message(note + ("; use --format to override" if note.startswith("detected format:") else ""))
    source = job.source
    assert source is not None

    api = state.api(writes=not f.dry_run)
    sid = resolve_store_id(api, f.store_id, f.store_name)
    _say_journal(out, job.prepare(api, sid, journal_target=op.journal_target(state.target())), job)
    journal = job.journal

    fo_handle = None
    if f.failed_out is not None:
        try:
            # a lone surrogate in a failed key becomes its JSON escape (\udXXX) instead of stopping the import
            fo_handle = open(f.failed_out, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write --failed-out {f.failed_out}: {exc.strerror}",
                             "check that its directory exists and is writable") from None
        job.request = replace(request, failed_out=fo_handle)

    # Ctrl-C and SIGTERM are deferred to the points where nothing is half-accounted, until the summary is out:
    # what it reports written is exactly what is stored. The progress bar (whose refresh thread writes to stderr)
    # is stopped on every way out, so no thread writes to a stream while the interpreter exits.
    gate = SignalGate(on_signal=stop_reading.set).install()
    bar: Progress | None = None
    try:
        show = _progress_enabled(state)
        if show and f.dir is not None and hasattr(source, "count_bytes"):
            with gate.open():  # a long walk of a big tree can be interrupted at once
                source.count_bytes()
        bar = Progress("Importing", source.total_bytes, show)

        def on_progress(report) -> None:
            done = report.written + report.failed
            bar.update(source.position(), f"{done:,} entries" if not f.dry_run else f"{report.valid:,} valid")

        interrupted: KvcliError | None = None
        try:
            job.run(on_progress=on_progress if show else None, interrupts=gate,
                    on_interrupt=lambda n: out.message(f"Interrupted: waiting for the {count(n, 'batch', 'batches')} "
                                                       "already sent (Ctrl-C again to stop waiting)"))
        except KvcliError as exc:  # Interrupted
            interrupted = exc
        finally:
            bar.stop()
            if fo_handle is not None:
                fo_handle.close()
        report = job.report
        if report.stop_reason == "max_errors":
            report.stopped = f"more than {f.max_errors} entries failed (--max-errors)"
        subdirs = getattr(source, "skipped_dirs", 0)
        if subdirs:
            report.notes.append(f"{count(subdirs, 'sub-directory', 'sub-directories')} of {f.dir} "
                                f"{'was' if subdirs == 1 else 'were'} skipped with the files in "
                                f"{'it' if subdirs == 1 else 'them'}; --recursive imports them too")
        if interrupted is None and gate.pending:  # Ctrl-C while the last chunk was written: it is all there
            interrupted = Interrupted("import interrupted (it had finished)" if job.finished else
                                      "import interrupted")
        summary = {"store_id": sid, **report.to_json()}
        if f.json_out:
            out.emit_json(summary)
        _render_import(state, report, json_out=f.json_out, failed_out=f.failed_out, journal=journal is not None,
                       stopped_by_error=job.fatal is not None or interrupted is not None)
    finally:
        if bar is not None:
            bar.stop()
        if fo_handle is not None:
            fo_handle.close()
        gate.uninstall()

    if interrupted is not None:
        if job.finished:
            interrupted.hint = None
        else:
            interrupted.hint = "re-run the same command with --resume to continue" if journal else None
        raise interrupted
    if job.fatal is not None:
        fatal = job.fatal
        more = f"{count(report.written, 'entry')} {'was' if report.written == 1 else 'were'} written before it stopped"
        fatal.message = f"import stopped: {fatal.message} ({more})"
        from kvcli.api.errors import ServerError
        from kvcli.bulk.importer import FATAL

        if journal is not None and isinstance(fatal, (*FATAL, ServerError)):
            fatal.hint = (fatal.hint + "; then " if fatal.hint else "") + "re-run with --resume to continue"
        raise fatal
    if not report.ok:
        what = f"{num(report.failed)} of {count(report.written + report.failed, 'entry')} failed"
        if report.stopped:
            what += f"; stopped early: {report.stopped}"
        hint = f"fix the entries in {f.failed_out} and import that file" if f.failed_out else \
            "see the errors above; --failed-out FILE saves the failed entries for a retry"
        if report.stopped and journal is not None:
            hint += "; --resume continues after what was done"
        raise PartialFailure(f"bulk import incomplete: {what}", hint, summary=summary)
    if not f.json_out:
        if f.dry_run:
            verb = "is" if report.valid == 1 else "are"
            out.success(f"{count(report.valid, 'entry')} {verb} valid (dry run: nothing was written)")
        else:
            out.success(f"Inserted {count(report.written, 'key')} into KV Store '{sid}'")
    return 0


def _render_import(state: State, report, *, json_out: bool, failed_out: str | None, journal: bool,
                   stopped_by_error: bool = False) -> None:
    """The human summary on stderr (errors first, then the counts line).

    A batch that failed as a whole is one line with the range it covered. With -q only errors are shown, and the
    counts line when the import did not succeed; a stopped import's batch failures are left to its Error line.
    """
    out = state.out
    quiet = state.quiet
    if not json_out:
        shown = [e for e in report.errors if not (quiet and stopped_by_error and "entries" in e)]
        for e in shown[:50]:
            place = e["title"][len("error at "):]
            if "entries" in e:
                out.err(f"{place}: {count(e['entries'], 'entry')} not written: {e['detail']}")
                continue
            key = f" key {e['key']!r}:" if e.get("key") is not None else ""
            out.err(f"{place}:{key} {e['detail']}")
        more = len(shown) - 50 + report.errors_omitted
        if more > 0:
            out.err(f"… and {count(more, 'more error')}"
                    + (f" (all failed entries are in {failed_out})" if failed_out else ""))
    for note in report.notes:
        out.warning(note)
    rate = (report.written / report.elapsed) if report.elapsed > 0 else 0.0
    parts = [f"written {report.written:,}", f"failed {report.failed:,}" + (
        f" ({report.invalid:,} invalid)" if report.invalid else "")]
    if report.skipped or report.resumed:
        parts.append(f"skipped {report.skipped:,} (done earlier)")
    if report.in_flight:
        n = report.in_flight_entries
        where = ", ".join(c["where"] for c in report.in_flight[:3]) + (", …" if len(report.in_flight) > 3 else "")
        out.err(f"{n:,} entries were still in flight when the import stopped waiting for them ({where}): they may or "
                "may not be stored" + ("; --resume sends them again" if journal else ""))
        parts.append(f"in flight {n:,}")
    line = f"Import summary: {', '.join(parts)}; {human_bytes(report.bytes)} in {report.elapsed:.2f}s"
    if report.written:
        line += f" ({rate:,.0f} entries/s)"
    if report.dry_run:
        line = f"Dry run: {report.valid:,} valid, {report.invalid:,} invalid; nothing was written"
    if quiet and not report.ok and not json_out:
        out.err(line)  # what was written is part of the error
    else:
        out.message(line)
    if report.stopped and journal and report.stopped != "interrupted":
        out.message("Progress was recorded; re-run with --resume to continue after what was done")
    elif report.stopped == "interrupted" and journal:
        out.message("Progress was recorded; re-run the same command with --resume to continue")


