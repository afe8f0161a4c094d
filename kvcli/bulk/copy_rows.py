"""The copy's source read straight from the embedded engine's rows (see :mod:`kvcli.bulk.copy`).

A copy from the embedded backend spent most of its CPU time between the database and the wire: a key listing, then a
read of each group of keys building an :class:`~kvcli.api.models.Item` (two datetimes each), then an import record
re-validated key by key, then a batch line. Here one query per page gives ``(key, metadata, expires_at, value)``
rows (:meth:`~kvcli.local.engine.Engine.item_rows`), and each row becomes its record and batch line directly. (Reading
the pages ahead in a thread, while the previous ones are sent, was measured and did not pay: SQLite releases the GIL
only while it steps, a small part of a page's cost, and the copy is bound by the destination now.)

Nothing that came out of the engine is validated again: its keys, metadata and TTLs were checked when they were
written (every write path of the engine validates them), and a destination still rejects, line by line, what it
does not accept. The one rule that depends on the destination is checked: the value size limit.
"""

from __future__ import annotations

import math
from binascii import b2a_base64
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring
from typing import Any

from kvcli.bulk.compare import TTL_SLACK_SECONDS, listed
from kvcli.bulk.copy_report import PLAN_KEYS, SourceChanged
from kvcli.bulk.journal import ResumeState
from kvcli.bulk.records import Bad, Entry

#: rows per query: a page is one snapshot of the source (at most PAGE rows in memory, so it stays flat)
PAGE = 1000

Row = tuple[str, str, "float | None", bytes]


def wire_line(key: str, value: bytes, metadata: str | None) -> bytes:
    """The Fastly batch line of an entry without a TTL, byte for byte what the HTTP adapter sends for it (JSON with
    the key and metadata escaped as ``json.dumps(..., ensure_ascii=False)`` does, the value in base64). Raises
    ``UnicodeEncodeError`` for a lone surrogate, which no key or metadata read from the engine holds."""
    if metadata:
        return b'{"key":%s,"value":"%s","metadata":%s}' % (
            encode_basestring(key).encode("utf-8"), b2a_base64(value, newline=False),
            encode_basestring(metadata).encode("utf-8"))
    return b'{"key":%s,"value":"%s"}' % (encode_basestring(key).encode("utf-8"), b2a_base64(value, newline=False))


def pages(api, store_id: str, prefix: str | None, size: int = PAGE) -> Iterator[list[Row]]:
    """The store's live rows (under ``prefix``) in key order, a page per query."""
    after: str | None = None
    while True:
        rows, more = api.item_rows(store_id, prefix or None, after, size)
        if rows:
            yield rows
        if not more or not rows:
            return
        after = rows[-1][0]


class ResumeFilter:
    """Which source ordinals an interrupted copy had acknowledged (``--resume``); the last key of every acknowledged
    batch is checked against the listing, and a source that changed stops the copy (:class:`SourceChanged`)."""

    def __init__(self, state: ResumeState | None) -> None:
        self.ranges = state.ranges if state is not None else []
        self.checks = state.checks if state is not None else {}
        self._i = 0

    def done(self, ordinal: int, key: str) -> bool:
        ranges = self.ranges
        i = self._i
        while i < len(ranges) and ranges[i][1] < ordinal:
            i += 1
        self._i = i
        if i < len(ranges) and ranges[i][0] <= ordinal:
            expected = self.checks.get(ordinal)
            if expected is not None and expected != key:
                raise SourceChanged(
                    f"the source store changed since the interrupted copy (key {ordinal + 1:,} is now {key!r}, "
                    f"was {expected!r})",
                    "run the copy again without resume: it compares every key and writes only what differs")
            return True
        return False


def row_differs(value: bytes, metadata: str, expires_at: float | None, other: Any, ttl: bool) -> bool:
    """Whether a source row and the destination's item of the same key differ (value, metadata and, ``ttl``: both
    sides expose expiry, the expiry time within :data:`TTL_SLACK_SECONDS`), as :func:`compare.differences` says."""
    if value != other.value or metadata != (other.metadata or ""):
        return True
    if ttl:
        theirs = other.expires_at
        if (expires_at is None) != (theirs is None):
            return True
        if expires_at is not None and abs(expires_at - theirs.timestamp()) > TTL_SLACK_SECONDS:
            return True
    return False


def row_records(source, limit: int, read_dst: Callable[[list[str]], dict]) -> Iterator[Entry | Bad]:
    """The records of a :class:`~kvcli.bulk.copy_source.CopySource` whose source is the embedded engine: an entry
    (with its batch line when the destination takes lines) for every row the destination lacks or holds differently,
    a bad record for a value over ``limit`` bytes. ``read_dst(keys)`` gives the destination's items of those keys
    (missing or unreadable ones absent)."""
    src, dst, report = source.src, source.dst, source.report
    plan = report.plan
    label, clock, expiry, encode = source.label, source.clock, source.expiry, source.encode
    compare_ttl = source.dst_expiry  # the embedded source always says when items expire
    resume = ResumeFilter(source.resume_state)
    dst_keys: Iterator[str] = listed(dst.api, dst.store_id, source.prefix, side=dst.label) \
        if source.dst_exists else iter(())
    theirs = next(dst_keys, None)
    ordinal = -1
    for page in pages(src.api, src.store_id, source.prefix):
        todo: list[tuple[int, Row, bool]] = []
        wanted: list[str] = []
        for row in page:
            key = row[0]
            while theirs is not None and theirs < key:
                plan.add("delete", theirs)  # (deleted by the second pass when asked)
                theirs = next(dst_keys, None)
            in_dst = theirs == key
            if in_dst:
                theirs = next(dst_keys, None)
            ordinal += 1
            report.listed += 1
            if resume.ranges and resume.done(ordinal, key):
                report.skipped_resumed += 1
                continue
            todo.append((ordinal, row, in_dst))
            if in_dst:
                wanted.append(key)
        others = read_dst(wanted) if wanted else {}
        for ordinal_, (key, metadata, expires_at, value), in_dst in todo:
            ttl: int | None = None
            if expires_at is not None:
                left = expires_at - clock()
                if left <= 0:  # expired since it was read
                    report.vanished += 1
                    continue
                ttl = max(1, math.floor(left + 0.5))
            if in_dst and (other := others.get(key)) is not None:
                if not row_differs(value, metadata, expires_at, other, compare_ttl):
                    plan.add("unchanged", key)
                    continue
                plan.add("update", key)
            else:
                plan.create += 1
                if len(plan.create_keys) < PLAN_KEYS:
                    plan.create_keys.append(key)
            size = len(value)
            source._position += size
            entry = Entry(key, value, metadata or None, ttl, False, label, None, ordinal_, None, size)
            if size > limit:
                yield Bad(f"value is {size} bytes; the limit is {limit} bytes", label, None, ordinal_, key=key,
                          code="too_large", entry=entry)
                continue
            if ttl is not None:
                report.ttl_carried += 1
                if expiry is not None:
                    expiry[key] = expires_at
            elif encode:
                entry.wire = wire_line(key, value, metadata)
            yield entry
    while theirs is not None:
        plan.add("delete", theirs)
        theirs = next(dst_keys, None)
