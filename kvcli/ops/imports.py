"""Bulk import as an operation: an :class:`ImportRequest` in, an :class:`~kvcli.bulk.importer.ImportReport` out.

An import runs in three steps, because the CLI says things between them (the detected format, what the journal
found) and resolves the store only after the input opened: :meth:`ImportJob.open_source`, :meth:`ImportJob.prepare`
(the resume journal), :meth:`ImportJob.run`. :func:`run_import` does all three. Batch sizes and the requests in
flight come from the backend's declared limits (``api.limits``) unless the request sets them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from kvcli.api.errors import InvalidInput, KvcliError
from kvcli.api.port import limits_of
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.bulk.importer import Importer, ImportReport
    from kvcli.bulk.interrupts import InterruptGate
    from kvcli.bulk.journal import Journal, ResumeState
    from kvcli.bulk.sources.base import Source
    from kvcli.config import Target

#: requests in flight over a backend that takes several (the CLI's default of --concurrency)
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, kw_only=True)
class ImportRequest:
    """What to import and how. Exactly one of ``file``, ``stream`` (read once: it cannot be resumed) or
    ``directory``. ``batch_entries``/``batch_bytes`` default to the backend's limits; ``concurrency`` is capped by
    them. ``metadata``, ``ttl`` and ``background_fetch`` apply to entries that do not set their own.
    ``failed_out``: every failed entry is written there as a Fastly batch line. ``tune_gc`` lets the import raise
    gc's young-generation threshold while it runs (a process-wide setting: the library leaves it alone)."""

    file: str | None = None
    stream: BinaryIO | IO[bytes] | None = None
    directory: str | None = None
    format: str | None = None
    toml_store: str | None = None
    recursive: bool = False
    allow_hidden: bool = False
    batch_entries: int | None = None
    batch_bytes: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_errors: int | None = None
    dry_run: bool = False
    resume: bool = False
    metadata: str | None = None
    ttl: int | None = None
    background_fetch: bool = False
    failed_out: IO[str] | None = None
    max_value_bytes: int | None = None
    tune_gc: bool = False


#: what :meth:`ImportJob.prepare` found, for the caller to say (None: the input has no journal)
RESUMED = "resumed"  # an earlier run's journal is continued
ALREADY_DONE = "already_done"  # --resume of an import that had finished: nothing is left
CHANGED = "changed"  # resume asked, but the input changed since the interrupted run: everything is imported
NOTHING_TO_RESUME = "nothing_to_resume"  # resume asked, no journal for this input
UNFINISHED_FOUND = "unfinished_found"  # no resume asked, an unfinished earlier import is started over
STARTED = "started"  # a fresh journal
NOT_RESUMABLE = "not_resumable"  # resume asked for an input without identity (a stream)


def journal_target(target: Target) -> str:
    """A backend's identity in import journals; the CLI and the library use the same, so either resumes the other's
    import."""
    if target.kind == "local":
        return f"local:{os.path.realpath(str(target.data_dir))}"
    return f"http:{target.endpoint}"


def _check(request: ImportRequest) -> None:
    given = [n for n, v in (("file", request.file), ("stream", request.stream), ("directory", request.directory))
             if v is not None]
    if len(given) != 1:
        raise InvalidInput("an import reads exactly one of file, stream or directory"
                           + (f" (got {' and '.join(given)})" if given else ""), reason="import_source")
    for name in ("batch_entries", "batch_bytes", "concurrency"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise InvalidInput(f"{name} must be at least 1 (got {value})", reason="not_positive",
                               facts={"field": name, "value": value})
    if request.max_errors is not None and request.max_errors < 0:
        raise InvalidInput(f"max_errors cannot be negative (got {request.max_errors})", reason="negative",
                           facts={"field": "max_errors", "value": request.max_errors})
    if request.resume and request.dry_run:
        raise InvalidInput("resume and dry_run cannot be combined", reason="resume_dry_run")


def _finished(journal: Journal) -> bool:
    """Whether an existing journal belongs to a finished import (an unreadable one counts as unfinished)."""
    try:
        return journal.load().complete
    except KvcliError:
        return False


class ImportJob:
    """One import: open its input, find its journal, run it. Nothing here prints.

    After :meth:`run`: ``report``; ``fatal``, the error that stopped it early (transport, auth, missing store,
    unreadable input), if any; ``finished``, whether it reached the end of its input.
    """

    def __init__(self, request: ImportRequest) -> None:
        _check(request)
        self.request = request
        self.source: Source | None = None
        self.journal: Journal | None = None
        self.resume_state: ResumeState | None = None
        self.journal_status: str | None = None
        self.importer: Importer | None = None
        self._api: KVApi | None = None
        self._store_id = ""

    def open_source(self) -> str | None:
        """Open the input (detecting its format); a note saying what was detected, if anything was."""
        from kvcli.bulk.sources import open_source

        r = self.request
        self.source, note = open_source(
            file=r.file, stream=cast("BinaryIO | None", r.stream), directory=r.directory, fmt=r.format,
            toml_store=r.toml_store, recursive=r.recursive, allow_hidden=r.allow_hidden,
        )
        return note

    def prepare(
        self, api: KVApi, store_id: str, *, journal_target: str | None = None, journal_dir: Path | None = None
    ) -> str | None:
        """Find or start the input's resume journal (``journal_target``: the backend's identity in journals, see
        :func:`journal_target`; None: no journal; ``journal_dir``: where journals are, default ``imports`` in the
        default data directory); what was found (``RESUMED``, ``CHANGED``…; None: no journal)."""
        from kvcli.bulk.journal import Journal

        if self.source is None:
            self.open_source()
        assert self.source is not None
        r = self.request
        self._api, self._store_id = api, store_id
        identity = self.source.identity()
        status: str | None = None
        if identity is not None and not r.dry_run and journal_target is not None:
            journal = Journal.for_input(target=journal_target, store_id=store_id, fmt=self.source.format,
                                        identity=identity, directory=journal_dir)
            if r.resume and journal.exists():
                self.resume_state = journal.load()
                status = ALREADY_DONE if self.resume_state.complete else RESUMED
                journal.resume()
            else:
                if r.resume:
                    status = CHANGED if journal.changed_since() else NOTHING_TO_RESUME
                elif journal.exists() and not _finished(journal):
                    status = UNFINISHED_FOUND
                else:
                    status = STARTED
                journal.start()
            self.journal = journal
        elif r.resume:
            status = NOT_RESUMABLE
        self.journal_status = status
        return status

    def run(
        self,
        *,
        on_progress: Callable[[ImportReport], None] | None = None,
        interrupts: InterruptGate | None = None,
        on_interrupt: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import everything (a KeyboardInterrupt or ``Interrupted`` propagates once what was acknowledged is
        recorded); the report. Entries that failed are in the report; an error that stopped the import is
        :attr:`fatal`."""
        from kvcli.bulk.failed import FailedOut
        from kvcli.bulk.importer import Importer, ImportOptions
        from kvcli.bulk.interrupts import NO_GATE

        if self._api is None:
            raise InvalidInput("prepare(api, store_id) must be called before run()", reason="not_prepared")
        assert self.source is not None
        r = self.request
        limits = limits_of(self._api)
        options = ImportOptions(
            max_entries=r.batch_entries or limits.batch_entries,
            max_bytes=r.batch_bytes or limits.batch_bytes,
            concurrency=limits.concurrency(r.concurrency),
            max_errors=r.max_errors,
            dry_run=r.dry_run,
            encode_lines=limits.wire_lines,
            default_metadata=r.metadata,
            default_ttl=r.ttl,
            default_background_fetch=r.background_fetch,
            max_value_bytes=r.max_value_bytes,
            tune_gc=r.tune_gc,
        )
        self.importer = Importer(
            self._api, self._store_id, self.source, options=options, journal=self.journal, resume=self.resume_state,
            failed_out=FailedOut(r.failed_out) if r.failed_out is not None else None, on_progress=on_progress,
            interrupts=interrupts or NO_GATE, on_interrupt=on_interrupt,
        )
        return self.importer.run()

    @property
    def report(self) -> ImportReport:
        assert self.importer is not None, "run() first"
        return self.importer.report

    @property
    def fatal(self) -> KvcliError | None:
        return self.importer.fatal if self.importer is not None else None

    @property
    def finished(self) -> bool:
        return self.importer is not None and self.importer.finished


def run_import(
    api: KVApi, store_id: str, request: ImportRequest, *,
    on_progress: Callable[[ImportReport], None] | None = None,
    journal_target: str | None = None,
    journal_dir: Path | None = None,
) -> ImportJob:
    """Open, prepare and run an import in one call; the job, with its ``report``, ``fatal`` (not raised) and
    ``journal_status``."""
    job = ImportJob(request)
    job.open_source()
    job.prepare(api, store_id, journal_target=journal_target, journal_dir=journal_dir)
    job.run(on_progress=on_progress)
    return job
