"""Check every entry before it is sent, with the rules in :mod:`kvcli.api.validation`.

An invalid entry becomes a :class:`~kvcli.bulk.records.Bad` carrying the file and line it came from and the parsed
entry (so ``--failed-out`` can write it back out). Values of lazy entries (files of a directory, ``file =``
references) are read here, one at a time, just before their batch is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

from kvcli.api import validation
from kvcli.bulk.lines import LineRun
from kvcli.bulk.records import Bad, Entry, Record
from kvcli.bulk.sources.directory import open_regular


def _bad(entry: Entry, reason: str, code: str) -> Bad:
    return Bad(
        reason, entry.file, entry.line, entry.ordinal, key=entry.key, code=code, entry=entry,
        end_offset=entry.end_offset, next_line=entry.next_line,
    )


def load_value(entry: Entry, limit: int) -> str | None:
    """Read a lazy entry's file into ``entry.value``; return a problem or None."""
    if entry.size is not None and entry.size > limit:
        return f"value is {entry.size} bytes; the limit is {limit} bytes"
    try:
        with open_regular(entry.path) as fh:  # type: ignore[arg-type]
            data = fh.read(limit + 1)
    except OSError as exc:
        return f"cannot read {entry.path}: {exc.strerror}"
    entry.value = data
    entry.size = len(data)
    return None


def check(entry: Entry, limit: int) -> Bad | None:
    """The problem with one entry (value loaded first when lazy), or None when it can be sent."""
    problem = validation.key_problem(entry.key)
    if problem:
        return _bad(entry, problem, "invalid_key")
    if entry.metadata is not None:
        problem = validation.metadata_problem(entry.metadata)
        if problem:
            return _bad(entry, problem, "invalid_metadata")
    ttl = entry.ttl
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        return _bad(entry, f"invalid TTL {ttl!r}: time_to_live_sec must be a positive whole number", "invalid_ttl")
    if ttl is not None and ttl > validation.MAX_TTL_SECONDS:
        return _bad(entry, f"invalid TTL {ttl:.4g}: more than {validation.MAX_TTL_SECONDS} seconds (100 years)",
                    "invalid_ttl")
    if entry.value is None:
        if entry.path is None:
            return _bad(entry, "entry has no value", "missing_value")
        problem = load_value(entry, limit)
        if problem:
            code = "too_large" if problem.startswith("value is") else "unreadable"
            return _bad(entry, problem, code)
    if len(entry.value) > limit:  # type: ignore[arg-type]
        return _bad(entry, f"value is {len(entry.value)} bytes; the limit is {limit} bytes", "too_large")  # type: ignore[arg-type]
    return None


@overload
def validate(records: Iterable[Record], *, max_value_bytes: int | None = None) -> Iterator[Record]: ...


@overload
def validate(records: Iterable[Record | LineRun], *, max_value_bytes: int | None = None
             ) -> Iterator[Record | LineRun]: ...


def validate(records: Iterable[Record | LineRun], *, max_value_bytes: int | None = None
             ) -> Iterator[Record | LineRun]:
    """Pass good entries through (values loaded) and turn invalid ones into bad records.

    A :class:`~kvcli.bulk.lines.LineRun` holds only entries valid by the key rules, with valid base64: it passes
    whole when no value can exceed the limit, else its entries are checked one by one."""
    limit = validation.max_value_bytes() if max_value_bytes is None else max_value_bytes
    for rec in records:
        if isinstance(rec, LineRun):
            if rec.max_value_bytes() <= limit:
                yield rec
                continue
            for entry in rec:
                bad = check(entry, limit)
                yield entry if bad is None else bad
        elif isinstance(rec, Entry):
            bad = check(rec, limit)
            yield rec if bad is None else bad
        else:
            yield rec
