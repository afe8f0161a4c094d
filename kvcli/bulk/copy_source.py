"""The copy's source (:class:`CopySource`): the two stores' sorted listings merged, each source key read (and the
destination's copy of it) with bounded concurrency, in key order; an entry for every key that is missing or differs.
From the embedded engine, its rows are read a page per query instead (:mod:`kvcli.bulk.copy_rows`). See
:mod:`kvcli.bulk.copy`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from kvcli.api.errors import AuthError, KvcliError, RateLimited, StorageError, TransportError
from kvcli.api.models import Item
from kvcli.api.port import limits_of
from kvcli.bulk.compare import (
    differences,
    exposes_expiry,
    is_embedded,
    listed,
    merge,
    ordered_map,
    read_item,
    remaining_ttl,
)
from kvcli.bulk.copy_report import CopyReport, Side
from kvcli.bulk.copy_rows import ResumeFilter, row_records, wire_line
from kvcli.bulk.journal import ResumeState
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources.base import ResumePoint, Source

#: read errors every further read would hit as well: they stop the copy instead of failing key after key
FATAL_READ = (TransportError, AuthError, RateLimited, StorageError)
READ_CONCURRENCY = 16
GROUP = 500  # keys read per transaction from the embedded engine


def batch_line(key: str, value: bytes, metadata: str | None) -> bytes | None:
    """The Fastly batch line of an entry without a TTL, as the HTTP adapter would send it (None: let it encode)."""
    try:
        return wire_line(key, value, metadata)
    except UnicodeEncodeError:  # a lone surrogate: the adapter reports it
        return None


class TtlAtWrite:
    """The destination adapter, with each TTL'd entry's remaining TTL worked out when its batch is sent rather than
    when its item was read (a batch of the embedded engine holds up to 10,000 entries: seconds of reading).

    The source records each such key's expiry in :attr:`expiry`; an entry leaves it once its batch was answered.
    """

    def __init__(self, api, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self.clock = clock
        self.expiry: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def put_batch(self, store_id: str, entries):
        from kvcli.api.errors import TooLarge

        now = self.clock()
        for e in entries:
            at = self.expiry.get(e.key)
            if at is not None:
                e.ttl = max(1, math.floor(at - now + 0.5))
                e.wire = None
        try:
            result = self._api.put_batch(store_id, entries)
        except TooLarge:  # split and sent again by the importer
            raise
        except BaseException:
            self._forget(entries)
            raise
        self._forget(entries)
        return result

    def _forget(self, entries) -> None:
        for e in entries:
            self.expiry.pop(e.key, None)


class CopySource(Source):
    """The source store's keys that the destination lacks or holds differently, as import records."""

    format = "copy"

    def __init__(
        self,
        src: Side,
        dst: Side,
        report: CopyReport,
        *,
        prefix: str | None = None,
        concurrency: int = READ_CONCURRENCY,
        resume: ResumeState | None = None,
        dst_exists: bool = True,
        clock: Callable[[], float] = time.time,
        expiry: dict[str, float] | None = None,
        max_value_bytes: int | None = None,
        rows: bool | None = None,
    ) -> None:
        super().__init__()
        self.src, self.dst, self.report = src, dst, report
        self.label = src.label
        self.prefix = prefix
        self.concurrency = concurrency
        self.resume_state = resume
        self.dst_exists = dst_exists
        self.clock = clock
        #: key -> expiry (epoch seconds) of the TTL'd entries yielded, for :class:`TtlAtWrite`
        self.expiry = expiry
        self.keep_wire = False
        #: pre-encode each entry's batch line (HTTP destinations): cheaper than the adapter's generic encoding
        self.encode = limits_of(dst.api).wire_lines
        #: the value size limit (None: KVCLI_MAX_VALUE_BYTES, else 25 MiB)
        self.max_value_bytes = max_value_bytes
        #: read the embedded engine's rows a page per query (None: whenever the source is the embedded engine)
        self.rows = is_embedded(src.api) and getattr(src.api, "item_rows", None) is not None if rows is None else rows
        self.src_expiry = exposes_expiry(src.api, src.store_id)
        self.dst_expiry = dst_exists and exposes_expiry(dst.api, dst.store_id)

    def identity(self) -> dict:
        return {"from": self.src.target_id, "store": self.src.store_id, "prefix": self.prefix or ""}

    def _todo(self) -> Iterator[tuple[int, str, bool]]:
        """(ordinal, key, in destination) for every source key not acknowledged by an interrupted run."""
        src_keys = listed(self.src.api, self.src.store_id, self.prefix, side=self.src.label)
        dst_keys: Iterator[str] = listed(self.dst.api, self.dst.store_id, self.prefix, side=self.dst.label) \
            if self.dst_exists else iter(())
        resume = ResumeFilter(self.resume_state)
        ordinal = -1
        for key, in_src, in_dst in merge(src_keys, dst_keys):
            if not in_src:
                self.report.plan.add("delete", key)  # (deleted by the second pass when asked)
                continue
            ordinal += 1
            self.report.listed += 1
            if resume.ranges and resume.done(ordinal, key):
                self.report.skipped_resumed += 1
                continue
            yield ordinal, key, in_dst

    def _read(self, job: tuple[int, str, bool]) -> tuple[int, str, Item | None, Item | None, KvcliError | None]:
        ordinal, key, in_dst = job
        try:
            item = read_item(self.src.api, self.src.store_id, key)
        except FATAL_READ:
            raise
        except KvcliError as exc:
            return ordinal, key, None, None, exc
        other = None
        if item is not None and in_dst:
            try:
                other = read_item(self.dst.api, self.dst.store_id, key)
            except FATAL_READ:
                raise
            except KvcliError:  # cannot compare: write it (an upsert is always safe)
                other = None
        return ordinal, key, item, other, None

    def _read_dst(self, key: str) -> Item | None:
        try:
            return read_item(self.dst.api, self.dst.store_id, key)
        except FATAL_READ:
            raise
        except KvcliError:  # cannot compare: write it (an upsert is always safe)
            return None

    def _dst_items(self, keys: list[str]) -> dict[str, Item]:
        """The destination's items of ``keys`` (missing or unreadable ones absent): one read transaction on the
        embedded engine, else one request per key with bounded concurrency."""
        many = getattr(self.dst.api, "get_items", None) if is_embedded(self.dst.api) else None
        found = many(self.dst.store_id, keys) if many is not None else \
            ordered_map(self._read_dst, keys, self.concurrency)
        return {k: item for k, item in zip(keys, found, strict=True) if item is not None}

    def records(self, start: ResumePoint | None = None) -> Iterator[Entry | Bad]:
        """Every record to write, valid for the destination (the copy's importer does not validate them again):
        from the embedded engine straight from its rows (:mod:`kvcli.bulk.copy_rows`), else key by key, checked
        like an import's records."""
        from kvcli.api import validation
        from kvcli.bulk.validate import validate

        limit = validation.max_value_bytes() if self.max_value_bytes is None else self.max_value_bytes
        if self.rows:
            return row_records(self, limit, self._dst_items)
        return validate(self._records(), max_value_bytes=limit)

    def _records(self) -> Iterator[Entry | Bad]:
        report = self.report
        plan = report.plan
        compare_ttl = self.src_expiry and self.dst_expiry
        for ordinal, key, item, other, exc in ordered_map(self._read, self._todo(), self.concurrency):
            if exc is not None:
                yield Bad(f"reading it from the source failed: {exc.message}", self.label, None, ordinal, key=key,
                          code=str(getattr(exc, "status", "") or exc.kind))
                continue
            if item is None:
                report.vanished += 1
                continue
            ttl: int | None = None
            if self.src_expiry:
                left = remaining_ttl(item.expires_at, self.clock())
                if left is not None:
                    if left <= 0:  # expired since it was listed
                        report.vanished += 1
                        continue
                    ttl = max(1, math.floor(left + 0.5))
            if other is not None:
                if not differences(item, other, ttl=compare_ttl):
                    plan.add("unchanged", key)
                    continue
                plan.add("update", key)
            else:
                plan.add("create", key)
            if ttl is not None:
                report.ttl_carried += 1
                if self.expiry is not None:
                    self.expiry[key] = item.expires_at.timestamp()  # type: ignore[union-attr]
            elif not self.src_expiry:
                report.ttl_unknown += 1
            self._position += len(item.value)
            entry = Entry(key, item.value, item.metadata or None, ttl, False, self.label, None, ordinal,
                          size=len(item.value))
            if self.encode and ttl is None:
                entry.wire = batch_line(key, item.value, entry.metadata)
            yield entry
