"""Bulk commands of ``kv-store-entry``: import (``create --file/--stdin/--dir``, via :func:`run_import`), ``export``
and ``sync``. The work is done by :mod:`kvcli.bulk`; this module parses options, shows progress and renders reports.

Importing this module registers ``export`` and ``sync`` on the ``kv-store-entry`` app. Only light modules are
imported at load time: the bulk pipeline and rich are imported when a bulk command runs.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Annotated

import typer

from kvcli.api.errors import KvcliError, PartialFailure, UsageError
from kvcli.cli.kv_store_entry import app
from kvcli.cli.numbers import count, num
from kvcli.cli.options import JsonOpt, StoreIdOpt, StoreNameOpt, resolve_store_id
from kvcli.cli.state import State, emit_json, err, message, success, warning

IMPORT_DEFAULT_CONCURRENCY = 4
EXPORT_DEFAULT_CONCURRENCY = 16


# ----------------------------------------------------------------------------------------------------- helpers
def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _is_local(api) -> bool:
    from kvcli.api.local import LocalAdapter

    return isinstance(api, LocalAdapter)


def _target_id(state: State) -> str:
    target = state.target()
    if target.kind == "local":
        return f"local:{os.path.realpath(str(target.data_dir))}"
    return f"http:{target.endpoint}"


class Progress:
    """A rich progress line on stderr (entries, bytes, rate, ETA), shown only on a terminal and without -q."""

    def __init__(self, description: str, total: int | None, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[entries]}"),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._task = self._progress.add_task(description, total=total, entries="")
        self._progress.start()

    def update(self, completed: int, entries: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, entries=entries)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _progress_enabled(state: State) -> bool:
    if state.quiet or os.environ.get("KVCLI_NO_PROGRESS"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _sigterm_as_interrupt():
    """Treat SIGTERM like Ctrl-C while a bulk command runs, so progress is recorded before exiting."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finished(journal) -> bool:
    """Whether an existing journal belongs to a finished import (an unreadable one counts as unfinished)."""
    try:
        return journal.load().complete
    except KvcliError:
        return False


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be at least 1 (got {value})", f"pass {name} 1 or more")


# ------------------------------------------------------------------------------------------------------ import
def run_import(
    *,
    store_id: str | None = None,
    store_name: str | None = None,
    file: str | None = None,
    stdin: bool = False,
    dir: str | None = None,  # noqa: A002 - the official flag's name
    dir_allow_hidden: bool = False,
    dir_concurrency: int | None = None,
    json_out: bool = False,
    key: str | None = None,
    value: str | None = None,
    value_file: str | None = None,
    add: bool = False,
    append: bool = False,
    prepend: bool = False,
    if_generation_match: int | None = None,
    metadata: str | None = None,
    ttl: int | None = None,
    background_fetch: bool = False,
    format: str | None = None,  # noqa: A002
    recursive: bool = False,
    concurrency: int | None = None,
    max_errors: int | None = None,
    failed_out: str | None = None,
    resume: bool = False,
    toml_store: str | None = None,
    batch_size: int | None = None,
    batch_bytes: int | None = None,
    dry_run: bool = False,
    **_unknown,
) -> int:
    """Bulk import for ``kv-store-entry create --file/--stdin/--dir``. Returns the exit code (0); failures raise."""
    from kvcli.api import validation
    from kvcli.api.errors import Interrupted
    from kvcli.bulk import batching
    from kvcli.bulk.importer import FailedOut, Importer, ImportOptions
    from kvcli.bulk.interrupts import SignalGate
    from kvcli.bulk.journal import Journal
    from kvcli.bulk.sources import open_source

    single = [("--key", key is not None), ("--value", value is not None), ("--value-file", value_file is not None),
              ("--add", add), ("--append", append), ("--prepend", prepend),
              ("--if-generation-match", if_generation_match is not None)]
    for name, on in single:
        if on:
            raise UsageError(
                f"{name} cannot be used with a bulk import (--file, --stdin or --dir)",
                "the batch endpoint only upserts; drop the flag, or write keys one by one",
            )
    if recursive and dir is None:
        raise UsageError("--recursive only applies to --dir")
    if dir_allow_hidden and dir is None:
        raise UsageError("--dir-allow-hidden only applies to --dir")
    if resume and stdin:
        raise UsageError("--resume cannot be used with --stdin (stdin cannot be re-read)", "save the input to a file")
    if resume and dry_run:
        raise UsageError("--resume and --dry-run cannot be combined", "drop one of them")
    _positive("--concurrency", concurrency)
    _positive("--dir-concurrency", dir_concurrency)
    _positive("--batch-size", batch_size)
    _positive("--batch-bytes", batch_bytes)
    if max_errors is not None and max_errors < 0:
        raise UsageError(f"--max-errors cannot be negative (got {max_errors})")
    if metadata is not None:
        validation.check_metadata(metadata)

    state = State.current()
    stream = None
    stop_reading = threading.Event()
    if stdin:
        try:
            tty = sys.stdin.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            raise UsageError("unable to read from STDIN", "provide data to STDIN, or use --file to read from a file")
        from kvcli.bulk.sources.base import cancellable_stdin

        # a reader thread blocked on stdin is told to give up when Ctrl-C comes (see SignalGate(on_signal=…))
        stream = cancellable_stdin(sys.stdin.buffer, stop_reading)
    source, note = open_source(
        file=file, stream=stream, directory=dir, fmt=format, toml_store=toml_store, recursive=recursive,
        allow_hidden=dir_allow_hidden,
    )
    if note:
        message(note)

    api = state.api(writes=not dry_run)
    sid = resolve_store_id(api, store_id, store_name)
    local = _is_local(api)
    if concurrency is None:
        concurrency = dir_concurrency if (dir is not None and dir_concurrency is not None and dir_concurrency != 50) \
            else IMPORT_DEFAULT_CONCURRENCY
    options = ImportOptions(
        max_entries=batch_size or (batching.LOCAL_MAX_ENTRIES if local else batching.HTTP_MAX_ENTRIES),
        max_bytes=batch_bytes or (batching.LOCAL_MAX_BYTES if local else batching.HTTP_MAX_BYTES),
        concurrency=1 if local else concurrency,
        max_errors=max_errors,
        dry_run=dry_run,
        encode_lines=not local,
        default_metadata=metadata,
        default_ttl=ttl,
        default_background_fetch=background_fetch,
    )

    journal = resume_state = None
    identity = source.identity()
    if identity is not None and not dry_run:
        journal = Journal.for_input(target=_target_id(state), store_id=sid, fmt=source.format, identity=identity)
        if resume and journal.exists():
            resume_state = journal.load()
            if resume_state.complete:
                message("An earlier run finished this import; nothing is left to resume")
            else:
                message(f"Resuming: {count(resume_state.done, 'record')} {'was' if resume_state.done == 1 else 'were'} "
                        "done by an earlier run")
            journal.resume()
        else:
            if resume:
                if journal.changed_since():
                    message("The input changed since the interrupted import, so its journal is not used; importing "
                            "everything")
                else:
                    message("Nothing to resume for this input; importing everything")
            elif journal.exists() and not _finished(journal):
                message("An unfinished earlier import of this input was found; starting over (use --resume to "
                        "continue it instead)")
            journal.start()
    elif resume:
        message("This input cannot be resumed; importing everything")

    fo_handle = None
    if failed_out is not None:
        try:
            # a lone surrogate in a failed key becomes its JSON escape (\udXXX) instead of stopping the import
            fo_handle = open(failed_out, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot write --failed-out {failed_out}: {exc.strerror}",
                             "check that its directory exists and is writable") from None

    # Ctrl-C and SIGTERM are deferred to the points where nothing is half-accounted, until the summary is out:
    # what it reports written is exactly what is stored. The progress bar (whose refresh thread writes to stderr)
    # is stopped on every way out, so no thread writes to a stream while the interpreter exits.
    gate = SignalGate(on_signal=stop_reading.set).install()
    bar: Progress | None = None
    try:
        show = _progress_enabled(state)
        if show and dir is not None and hasattr(source, "count_bytes"):
            with gate.open():  # a long walk of a big tree can be interrupted at once
                source.count_bytes()
        bar = Progress("Importing", source.total_bytes, show)

        def on_progress(report) -> None:
            done = report.written + report.failed
            bar.update(source.position(), f"{done:,} entries" if not dry_run else f"{report.valid:,} valid")

        importer = Importer(
            api, sid, source, options=options, journal=journal, resume=resume_state,
            failed_out=FailedOut(fo_handle) if fo_handle is not None else None,
            on_progress=on_progress if show else None, interrupts=gate,
            on_interrupt=lambda n: message(f"Interrupted: waiting for the {count(n, 'batch', 'batches')} already sent "
                                           "(Ctrl-C again to stop waiting)"),
        )
        interrupted: KvcliError | None = None
        try:
            importer.run()
        except KvcliError as exc:  # Interrupted
            interrupted = exc
        finally:
            bar.stop()
            if fo_handle is not None:
                fo_handle.close()
        report = importer.report
        subdirs = getattr(source, "skipped_dirs", 0)
        if subdirs:
            report.notes.append(f"{count(subdirs, 'sub-directory', 'sub-directories')} of {dir} "
                                f"{'was' if subdirs == 1 else 'were'} skipped with the files in "
                                f"{'it' if subdirs == 1 else 'them'}; --recursive imports them too")
        if interrupted is None and gate.pending:  # Ctrl-C while the last chunk was written: it is all there
            interrupted = Interrupted("import interrupted (it had finished)" if importer.finished else
                                      "import interrupted")
        summary = {"store_id": sid, **report.to_json()}
        if json_out:
            emit_json(summary)
        _render_import(report, json_out=json_out, failed_out=failed_out, journal=journal is not None,
                       stopped_by_error=importer.fatal is not None or interrupted is not None)
    finally:
        if bar is not None:
            bar.stop()
        if fo_handle is not None:
            fo_handle.close()
        gate.uninstall()

    if interrupted is not None:
        if importer.finished:
            interrupted.hint = None
        else:
            interrupted.hint = "re-run the same command with --resume to continue" if journal else None
        raise interrupted
    if importer.fatal is not None:
        fatal = importer.fatal
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
        hint = f"fix the entries in {failed_out} and import that file" if failed_out else \
            "see the errors above; --failed-out FILE saves the failed entries for a retry"
        if report.stopped and journal is not None:
            hint += "; --resume continues after what was done"
        raise PartialFailure(f"bulk import incomplete: {what}", hint, summary=summary)
    if not json_out:
        if dry_run:
            verb = "is" if report.valid == 1 else "are"
            success(f"{count(report.valid, 'entry')} {verb} valid (dry run: nothing was written)")
        else:
            success(f"Inserted {count(report.written, 'key')} into KV Store '{sid}'")
    return 0


def _render_import(report, *, json_out: bool, failed_out: str | None, journal: bool,
                   stopped_by_error: bool = False) -> None:
    """The human summary on stderr (errors first, then the counts line).

    A batch that failed as a whole is one line with the range it covered. With -q only errors are shown, and the
    counts line when the import did not succeed; a stopped import's batch failures are left to its Error line.
    """
    quiet = State.current().quiet
    if not json_out:
        shown = [e for e in report.errors if not (quiet and stopped_by_error and "entries" in e)]
        for e in shown[:50]:
            place = e["title"][len("error at "):]
            if "entries" in e:
                err(f"{place}: {count(e['entries'], 'entry')} not written: {e['detail']}")
                continue
            key = f" key {e['key']!r}:" if e.get("key") is not None else ""
            err(f"{place}:{key} {e['detail']}")
        more = len(shown) - 50 + report.errors_omitted
        if more > 0:
            err(f"… and {count(more, 'more error')}"
                + (f" (all failed entries are in {failed_out})" if failed_out else ""))
    for note in report.notes:
        warning(note)
    rate = (report.written / report.elapsed) if report.elapsed > 0 else 0.0
    parts = [f"written {report.written:,}", f"failed {report.failed:,}" + (
        f" ({report.invalid:,} invalid)" if report.invalid else "")]
    if report.skipped or report.resumed:
        parts.append(f"skipped {report.skipped:,} (done earlier)")
    if report.in_flight:
        n = report.in_flight_entries
        where = ", ".join(c["where"] for c in report.in_flight[:3]) + (", …" if len(report.in_flight) > 3 else "")
        err(f"{n:,} entries were still in flight when the import stopped waiting for them ({where}): they may or "
            "may not be stored" + ("; --resume sends them again" if journal else ""))
        parts.append(f"in flight {n:,}")
    line = f"Import summary: {', '.join(parts)}; {_human_bytes(report.bytes)} in {report.elapsed:.2f}s"
    if report.written:
        line += f" ({rate:,.0f} entries/s)"
    if report.dry_run:
        line = f"Dry run: {report.valid:,} valid, {report.invalid:,} invalid; nothing was written"
    if quiet and not report.ok and not json_out:
        err(line)  # what was written is part of the error
    else:
        message(line)
    if report.stopped and journal and report.stopped != "interrupted":
        message("Progress was recorded; re-run with --resume to continue after what was done")
    elif report.stopped == "interrupted" and journal:
        message("Progress was recorded; re-run the same command with --resume to continue")


# ------------------------------------------------------------------------------------------------------ export
@app.command("export")
def export_cmd(
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only export keys starting with this prefix.", show_default=False)
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="ndjson (Fastly batch lines), viceroy, wrangler or dir.", metavar="FORMAT"),
    ] = "ndjson",
    output: Annotated[
        str | None,
        typer.Option("--output", "-O", help="Write to this file (a directory for --format dir) instead of stdout.",
                     metavar="PATH", show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Values fetched at once over HTTP.", metavar="N")
    ] = EXPORT_DEFAULT_CONCURRENCY,
    json_out: JsonOpt = False,
) -> int:
    """Export every entry of a store (or of a prefix) with values, metadata and TTLs.

    The default NDJSON output is Fastly's batch format: 'export | create --stdin' copies or restores a store.

    Example: kvcli kv-store-entry export --store-name prod -O backup.ndjson
    """
    from kvcli.bulk import export as ex

    fmt = ex.check_format(fmt)
    _positive("--concurrency", concurrency)
    if fmt == "dir" and output is None:
        raise UsageError("--format dir needs --output DIRECTORY", "pass the directory to write the files into")
    if json_out and output is None:
        raise UsageError("--json needs --output (the export itself goes to stdout)", "pass -O FILE")
    state = State.current()
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    conc = 1 if _is_local(api) else concurrency

    tmp_path = None
    out_fh = None
    if fmt == "dir":
        if os.path.exists(output) and not os.path.isdir(output):  # type: ignore[arg-type]
            raise UsageError(f"{output} exists and is not a directory", "pass a directory, or a new path, to -O")
        writer: ex.DirWriter | ex.StreamWriter = ex.DirWriter(output)  # type: ignore[arg-type]
    else:
        if output is None:
            import io

            out_fh = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=False)
        else:
            tmp_path = f"{output}.partial"
            try:
                out_fh = open(tmp_path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror}",
                                 "check that its directory exists and is writable") from None
        writer = {"ndjson": ex.NdjsonWriter, "viceroy": ex.ViceroyWriter, "wrangler": ex.WranglerWriter}[fmt](out_fh)

    show = _progress_enabled(state)
    bar = Progress("Exporting", None, show)

    def on_progress(report) -> None:
        bar.update(report.bytes, f"{report.exported:,} entries")

    ok = False
    try:
        with _sigterm_as_interrupt():
            report = ex.export(api, sid, writer, fmt=fmt, prefix=prefix, concurrency=conc,
                               on_progress=on_progress if show else None)
        ok = True
    except KeyboardInterrupt:
        from kvcli.api.errors import Interrupted

        raise Interrupted("export interrupted", "nothing was kept; run the export again") from None
    finally:
        bar.stop()
        if fmt == "dir":
            writer.close()  # type: ignore[union-attr]
        elif output is None:
            assert out_fh is not None
            try:
                out_fh.flush()
            finally:
                out_fh.detach()
        else:
            assert out_fh is not None
            out_fh.close()
            if ok:
                os.replace(tmp_path, output)  # type: ignore[arg-type]
            else:
                try:
                    os.unlink(tmp_path)  # type: ignore[arg-type]
                except OSError:
                    pass
    summary = {"store_id": sid, "output": output, **report.to_json()}
    if json_out:
        emit_json(summary)
    else:
        for e in report.errors[:50]:
            err(f"not exported: {e['key']!r}: {e['detail']}")
    dropped, lost = [], []
    for n, what in ((report.dropped_metadata, "metadata"), (report.dropped_ttl, "expiry")):
        if n:
            lost.append(what)
            dropped.append(f"{count(n, 'item')} without {'its' if n == 1 else 'their'} {what}")
    if dropped:
        warning(f"the {fmt} format cannot hold {' or '.join(lost)}: exported {' and '.join(dropped)} (keys and "
                "values are all in the export; --format ndjson keeps everything)")
    message(
        f"Export summary: exported {report.exported:,}, failed {report.failed:,}"
        + (f", vanished while exporting {report.vanished:,}" if report.vanished else "")
        + f"; {_human_bytes(report.bytes)} in {report.elapsed:.2f}s"
    )
    if not report.ok:
        raise PartialFailure(
            f"export incomplete: {count(report.failed, 'entry')} could not be exported",
            "see the errors above" + ("; --format ndjson can hold any key and value" if fmt != "ndjson" else ""),
            summary=summary,
        )
    return 0


# -------------------------------------------------------------------------------------------------------- sync
@app.command("sync")
def sync_cmd(
    store_id: StoreIdOpt = None,
    store_name: StoreNameOpt = None,
    dir_: Annotated[
        str | None, typer.Option("--dir", help="The directory the store should match (keys = relative paths).",
                                 metavar="PATH", show_default=False)
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Key prefix the directory maps to (e.g. 'static/').", show_default=False)
    ] = "",
    delete: Annotated[
        bool, typer.Option("--delete", help="Also delete keys (under --prefix) that have no file.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    dir_allow_hidden: Annotated[
        bool, typer.Option("--dir-allow-hidden", help="Also sync dot-files and dot-directories.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight over HTTP.", metavar="N")
    ] = IMPORT_DEFAULT_CONCURRENCY,
    json_out: JsonOpt = False,
) -> int:
    """Make a store match a directory: upload new and changed files, and with --delete remove keys without a file.

    Changes are found without downloading values: each uploaded value's SHA-256 is kept in its metadata and compared
    with the file. Keys whose metadata has no such hash are re-uploaded once.

    Example: kvcli kv-store-entry sync --store-name site --dir ./public --delete --dry-run
    """
    from kvcli.bulk import batching
    from kvcli.bulk.delete import delete_keys
    from kvcli.bulk.importer import Importer, ImportOptions
    from kvcli.bulk.sync import PlannedUploads, make_plan

    _positive("--concurrency", concurrency)
    if dir_ is None:
        raise UsageError("no directory given", "pass --dir PATH")
    state = State.current()
    api = state.api(writes=not dry_run)
    sid = resolve_store_id(api, store_id, store_name)
    local = _is_local(api)
    plan, wanted = make_plan(
        api, sid, dir_, prefix=prefix, delete=delete, allow_hidden=dir_allow_hidden,
        concurrency=1 if local else concurrency * 4,
    )
    for note in plan.notes:
        warning(note)
    counts = plan.counts()
    if not json_out:
        for u in plan.unreadable:
            err(f"cannot read {u.path}: {u.reason}; its keys are neither updated nor deleted")
    if dry_run:
        if json_out:
            emit_json(_sync_summary(sid, plan, dry_run=True, uploaded=0, deleted=0, errors=list(plan.errors)))
        else:
            out = sys.stdout
            for k in plan.add:
                out.write(f"add     {k}\n")
            for k in plan.update:
                out.write(f"update  {k}  ({plan.reasons.get(k, '')})\n")
            for k in plan.delete:
                out.write(f"delete  {k}\n")
            out.flush()
            for e in plan.errors:
                err(f"cannot compare {e['key']!r}: {e['detail']}")
            message(
                f"Plan: {num(counts['add'])} to add, {num(counts['update'])} to update, {num(counts['delete'])} to "
                f"delete, {num(counts['unchanged'])} unchanged (dry run: nothing was changed)"
            )
        if plan.unreadable:
            raise _unreadable_error(plan, dry_run=True)
        return 0

    if plan.delete:
        state.confirm_or_cancel(f"sync will delete {count(len(plan.delete), 'key')} from KV Store '{sid}'")

    uploads = plan.add + plan.update
    report = None
    if uploads:
        source = PlannedUploads(dir_, uploads, wanted)
        bar = Progress("Uploading", source.total_bytes, _progress_enabled(state))
        importer = Importer(
            api, sid, source,
            options=ImportOptions(
                max_entries=batching.LOCAL_MAX_ENTRIES if local else batching.HTTP_MAX_ENTRIES,
                max_bytes=batching.LOCAL_MAX_BYTES if local else batching.HTTP_MAX_BYTES,
                concurrency=1 if local else concurrency,
                encode_lines=not local,
            ),
            on_progress=lambda r: bar.update(source.position(), f"{r.written + r.failed:,} files"),
        )
        try:
            with _sigterm_as_interrupt():
                report = importer.run()
        finally:
            bar.stop()
        if importer.fatal is not None:
            raise importer.fatal
    deleted = None
    if plan.delete:
        deleted = delete_keys(api, sid, iter(plan.delete), concurrency=1 if local else concurrency * 4,
                              max_errors=max(1, len(plan.delete)))
    errors = list(plan.errors)
    if report is not None:
        for e in report.errors:
            if "entries" in e:  # a whole batch failed: one error for its files
                errors.append({"key": None, "keys": [e["first_key"], e["last_key"]], "entries": e["entries"],
                               "detail": f"{count(e['entries'], 'file')} ({e['first_key']!r} … {e['last_key']!r}) not "
                                         f"uploaded: {e['detail']}"})
            else:
                errors.append({"key": e.get("key"), "detail": e["detail"]})
    if deleted is not None:
        errors.extend({"key": k, "detail": m} for k, m in deleted.errors)
    uploaded = report.written if report is not None else 0
    failed = sum(e.get("entries", 1) for e in errors)
    summary = _sync_summary(sid, plan, dry_run=False, uploaded=uploaded,
                            deleted=deleted.deleted if deleted is not None else 0, errors=errors)
    if json_out:
        emit_json(summary)
    else:
        for e in errors[:50]:
            err(f"failed: {e['detail']}" if e.get("key") is None else f"failed: {e['key']!r}: {e['detail']}")
    message(
        f"Sync summary: uploaded {num(uploaded)} ({num(counts['add'])} new, {num(counts['update'])} changed), "
        f"deleted {num(summary['deleted'])}, unchanged {num(counts['unchanged'])}, failed {num(failed)}"
        + (f"; partial: {count(len(plan.unreadable), 'unreadable path')} skipped and {count(len(plan.kept), 'key')} "
           "under them kept" if plan.unreadable else "")
    )
    if plan.unreadable:
        exc = _unreadable_error(plan, dry_run=False)
        exc.summary = summary
        raise exc
    if errors:
        raise PartialFailure(f"sync incomplete: {count(failed, 'key')} failed", "re-run sync to retry them",
                             summary=summary)
    if not json_out:
        success(f"KV Store '{sid}' matches {dir_}")
    return 0


def _sync_summary(sid: str, plan, *, dry_run: bool, uploaded: int, deleted: int, errors: list[dict]) -> dict:
    """The one JSON document of ``sync --json``, dry run or not (docs/bulk.md): the plan (counts and keys) and what
    was done (0 uploaded and deleted in a dry run)."""
    counts = plan.counts()
    planned = plan.to_json(with_unchanged=False)
    return {
        "store_id": sid,
        "dry_run": dry_run,
        "success": not errors,
        "complete": plan.complete,
        "counts": counts,
        "plan": counts,  # the same counts under the name real runs used before (kept for scripts reading it)
        "add": planned["add"],
        "update": planned["update"],
        "delete": planned["delete"],
        "unchanged_keys": plan.unchanged,
        "uploaded": uploaded,
        "deleted": deleted,
        "unchanged": counts["unchanged"],
        "failed": sum(e.get("entries", 1) for e in errors),
        "errors": errors,
        "unreadable": planned["unreadable"],
        "kept": plan.kept,
    }


def _unreadable_error(plan, *, dry_run: bool) -> PartialFailure:
    """The error of a sync that could not read part of its directory (the keys under it were kept)."""
    first = plan.unreadable[0]
    more = f" and {count(len(plan.unreadable) - 1, 'more path')}" if len(plan.unreadable) > 1 else ""
    done = "planned" if dry_run else "synced"
    return PartialFailure(
        f"sync incomplete (partial): cannot read {first.path} ({first.reason}){more}; only what could be read was "
        f"{done}, and the {count(len(plan.kept), 'key')} under unreadable paths "
        f"{'was' if len(plan.kept) == 1 else 'were'} kept",
        "make the paths readable, checking their permissions, and sync again",
    )
