"""The report of a bulk import (:class:`ImportReport`): counts, per-key errors with file and line, batches that failed
whole, what was still in flight when an interrupted import stopped waiting. Filled in by
:class:`kvcli.bulk.importer.Importer`; rendered by the CLI, returned by the library.
"""

from __future__ import annotations

from kvcli.bulk.batching import Chunk
from kvcli.bulk.lines import Entries
from kvcli.bulk.records import where
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    format: str = ""
    source: str = ""
    written: int = 0
    failed: int = 0  # all failures: invalid + rejected by the backend
    invalid: int = 0  # rejected before sending (parse or validation errors)
    skipped: int = 0  # done by an earlier run (a resumed import)
    valid: int = 0  # entries that passed validation (what a dry run would write)
    bytes: int = 0  # value bytes written
    chunks: int = 0
    errors: list[dict] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS failures
    errors_omitted: int = 0
    stopped: str | None = None  # why the import stopped before the end of its input
    stop_reason: str | None = None  # "max_errors" when it stopped at the limit of failed entries
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

    def add_batch_error(self, entries: Entries, *, code: str, reason: str) -> None:
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
