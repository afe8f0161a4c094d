"""The resume journal: what an import has had acknowledged, so an interrupted run can continue.

Design
------
* One file per (target, store, input) under ``<data dir>/imports/<hash>.journal``. The hash covers the backend
  (endpoint, without any ``user:password@``, or embedded database), the store ID, the input format and the input's
  identity: for a file its real path, size and modification time; for a directory its real path and the
  ``--recursive``/hidden options; for a fastly.toml store also the store's section and the identity of a JSON file
  it names. stdin has no identity and cannot be resumed.
* The first line is a header (JSON). Each chunk the backend acknowledged appends one line
  ``{"s": first ordinal, "e": last ordinal, "w": written, "f": failed, "o": byte offset after it, "l": next line,
  "k": its last key}`` and the file is flushed and fsync'd before the next result is handled, so a kill -9 loses at
  most the chunks that were in flight (they are re-sent on resume: batch writes are upserts, so re-sending is safe).
* Ordinals number the records of the input (good and bad alike) and are the same on every run of the same input;
  the ranges of successive chunks touch, so the union of acknowledged ranges is exactly what is done, whatever the
  batch size of the resumed run. Bad records inside an acknowledged range were reported by the run that saw them.
* A run that reaches the end of its input appends ``{"done": true}``: a later ``--resume`` finds nothing left to do
  (failed entries are what ``--failed-out`` is for). The journal is kept rather than deleted so that there is no
  moment, however short, at which the data is written but no record says so. Without ``--resume`` an existing
  journal for the same input is replaced; journals untouched for 30 days are removed when an import starts.
* On ``--resume`` the records in acknowledged ranges are skipped without being validated or sent; a seekable NDJSON
  file is not even re-read up to the first gap (the run seeks to the recorded byte offset). The last key of each
  acknowledged chunk is compared with the input as it is skipped; a mismatch means the input changed and the resume
  is refused.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from kvcli.api.errors import UsageError
from kvcli.bulk.batching import Chunk
from kvcli.bulk.records import Record
from kvcli.bulk.sources.base import ResumePoint
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

VERSION = 1
KEEP_SECONDS = 30 * 24 * 3600  # journals older than this are removed when a new import starts


def journal_dir() -> Path:
    from kvcli.config_file import data_dir

    return data_dir() / "imports"


def journal_key(*, target: str, store_id: str, fmt: str, identity: dict) -> str:
    blob = json.dumps({"target": target, "store": store_id, "format": fmt, "input": identity}, sort_keys=True)
    return _sha256_hex(blob.encode("utf-8"))[:32]


def _sha256_hex(data: bytes) -> str:
    """SHA-256 from the interpreter's built-in module where there is one (importing hashlib loads OpenSSL: ~2 ms
    before an import's first request); the digest is the same, so journals made either way are found again."""
    import importlib

    for name in ("_sha2", "_sha256"):  # Python 3.12+, 3.11
        try:
            return str(importlib.import_module(name).sha256(data).hexdigest())
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class ResumeState:
    """What earlier runs finished: merged ordinal ranges, per-chunk checks and the counts they reported."""

    ranges: list[tuple[int, int]] = field(default_factory=list)  # sorted, merged, inclusive
    checks: dict[int, str] = field(default_factory=dict)  # last ordinal of a chunk -> its last key
    written: int = 0
    failed: int = 0
    point: ResumePoint | None = None  # where reading may start (everything before it is done)
    complete: bool = False  # an earlier run reached the end of the input

    @property
    def done(self) -> int:
        return sum(e - s + 1 for s, e in self.ranges)


def _input_name(identity: object) -> object:
    """The part of an input's identity that names it (its path), without what changes when it is edited."""
    if not isinstance(identity, dict):
        return None
    for k in ("path", "dir", "toml"):
        if k in identity:
            v = identity[k]
            return _input_name(v) if isinstance(v, dict) else v
    return None


def _is_done(line: str) -> bool:
    try:
        rec = json.loads(line)
    except ValueError:
        return False
    return isinstance(rec, dict) and rec.get("done") is True


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


class Journal:
    def __init__(self, path: Path, header: dict) -> None:
        self.path = path
        self.header = header
        self._fh: TextIO | None = None

    @classmethod
    def for_input(
        cls, *, target: str, store_id: str, fmt: str, identity: dict, directory: Path | None = None
    ) -> Journal:
        """The journal of this input, in ``directory`` (default: ``imports`` in the default data directory)."""
        from kvcli.redact import redact_url

        target = redact_url(target)  # an endpoint's user:password@ is never written to disk here
        key = journal_key(target=target, store_id=store_id, fmt=fmt, identity=identity)
        header = {"kvcli_import_journal": VERSION, "target": target, "store": store_id, "format": fmt,
                  "input": identity}
        return cls((journal_dir() if directory is None else directory) / f"{key}.journal", header)

    def exists(self) -> bool:
        return self.path.exists()

    def changed_since(self) -> bool:
        """Whether another journal records an unfinished import of the same input (same backend, store, format and
        path) that has since changed: its size, modification time or options differ, so that journal is not used."""
        mine = self.header
        name = _input_name(mine.get("input"))
        if name is None:
            return False
        try:
            others = [p for p in self.path.parent.glob("*.journal") if p != self.path]
        except OSError:
            return False
        for path in others:
            try:
                with open(path, encoding="utf-8") as fh:
                    header = json.loads(fh.readline())
                    if not isinstance(header, dict) or header.get("input") == mine.get("input") or \
                            _input_name(header.get("input")) != name or \
                            any(header.get(k) != mine.get(k) for k in ("target", "store", "format")):
                        continue
                    if not any(_is_done(line) for line in fh):  # only then is the rest of it read
                        return True
            except (OSError, ValueError):
                continue
        return False

    def load(self) -> ResumeState:
        """Read what earlier runs recorded (a torn last line from a killed run is ignored)."""
        state = ResumeState()
        lines: list[dict] = []
        try:
            with open(self.path, encoding="utf-8") as fh:
                first = fh.readline()
                try:
                    header = json.loads(first)
                except json.JSONDecodeError:
                    header = None
                if not isinstance(header, dict) or header.get("kvcli_import_journal") != VERSION:
                    raise UsageError(
                        f"the resume journal {self.path} is unreadable", "import without resuming to start over",
                        reason="journal_unreadable",
                    )
                for raw in fh:
                    try:
                        rec = json.loads(raw)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(rec, dict) and "s" in rec and "e" in rec:
                        lines.append(rec)
                    elif isinstance(rec, dict) and rec.get("done") is True:
                        state.complete = True
        except FileNotFoundError:
            return state
        state.ranges = _merge((int(r["s"]), int(r["e"])) for r in lines)
        for r in lines:
            state.written += int(r.get("w", 0))
            state.failed += int(r.get("f", 0))
            if r.get("k") is not None:
                state.checks[int(r["e"])] = r["k"]
        if state.ranges and state.ranges[0][0] == 0:
            end = state.ranges[0][1]
            at = next((r for r in lines if int(r["e"]) == end and r.get("o") is not None), None)
            state.point = ResumePoint(end + 1, at["o"] if at else None, at.get("l") if at else None)
        return state

    def start(self) -> None:
        """Begin a fresh journal (replacing any earlier one for this input)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prune(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({**self.header, "started": int(time.time())}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._fsync_dir()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def resume(self) -> None:
        """Continue appending to the existing journal."""
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def record(self, chunk: Chunk, written: int, failed: int) -> None:
        if self._fh is None:
            return
        line: dict[str, object] = {"s": chunk.start, "e": chunk.end, "w": written, "f": failed}
        if chunk.end_offset is not None:
            line["o"] = chunk.end_offset
            line["l"] = chunk.end_line
        if chunk.last_key is not None:
            line["k"] = chunk.last_key
        self._fh.write(json.dumps(line) + "\n")  # ASCII escapes: a key with a lone surrogate is written too
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def mark_done(self) -> None:
        """Record that the import reached the end of its input (a later --resume has nothing left to do)."""
        if self._fh is None:
            return
        self._fh.write(json.dumps({"done": True, "at": int(time.time())}) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def prune(directory: Path, max_age: float = KEEP_SECONDS) -> None:
    """Remove journals nobody touched for ``max_age`` seconds (finished imports keep theirs until then)."""
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.endswith((".journal", ".tmp")):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass


class InputChanged(UsageError):
    pass


def skip_done(records: Iterable[Record], state: ResumeState, counter: list[int]) -> Iterator[Record]:
    """Drop records inside acknowledged ranges (counting them in ``counter[0]``), checking the recorded keys."""
    ranges = state.ranges
    checks = state.checks
    i = 0
    n = len(ranges)
    for rec in records:
        o = rec.ordinal
        while i < n and ranges[i][1] < o:
            i += 1
        if i < n and ranges[i][0] <= o:
            expected = checks.get(o)
            if expected is not None and rec.key != expected:
                raise InputChanged(
                    f"the input changed since the interrupted import (record {o} is now {rec.key!r}, "
                    f"was {expected!r})",
                    "import again without resuming to import everything",
                    reason="input_changed",
                )
            counter[0] += 1
            continue
        yield rec
