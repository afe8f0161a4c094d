"""Compare two stores (or a prefix of each), on any two backends, streaming: the two sorted key listings are merged
(:mod:`kvcli.bulk.compare`) and, unless ``keys_only``, each key present on both sides is read on both with bounded
concurrency and compared by value, metadata and (where both backends say when items expire) TTL."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from kvcli.api.models import Item
from kvcli.bulk.compare import (
    differences,
    exposes_expiry,
    is_embedded,
    listed,
    merge,
    ordered_map,
    read_item,
    read_many,
)
from kvcli.bulk.copy_report import Side
from kvcli.bulk.copy_source import GROUP, READ_CONCURRENCY
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

ONLY_IN_FROM = "only_in_from"
ONLY_IN_TO = "only_in_to"
DIFFERS = "differs"


@dataclass(frozen=True)
class Difference:
    """One key that is not the same on both sides. ``what`` (for ``differs``): ``value``, ``metadata``, ``ttl``."""

    key: str
    status: str  # only_in_from | only_in_to | differs
    what: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out: dict = {"key": self.key, "status": self.status}
        if self.status == DIFFERS:
            out["what"] = list(self.what)
        return out


@dataclass
class DiffCounts:
    compared: int = 0  # keys on both sides (compared by value unless keys_only)
    same: int = 0
    only_in_from: int = 0
    only_in_to: int = 0
    differs: int = 0
    vanished: int = 0  # listed, then gone when read on one side (counted as only in the other)
    ttl_compared: bool = False
    by_what: dict[str, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not (self.only_in_from or self.only_in_to or self.differs)

    def to_json(self) -> dict:
        return {"compared": self.compared, "same": self.same, "only_in_from": self.only_in_from,
                "only_in_to": self.only_in_to, "differs": self.differs, "differs_by": dict(self.by_what)}


class DiffRun:
    """The differences of two stores, produced as the iteration goes; :attr:`counts` is final once it has ended
    (:meth:`finish` runs the rest of it)."""

    def __init__(self, a: Side, b: Side, *, prefix: str | None = None, keys_only: bool = False,
                 concurrency: int = READ_CONCURRENCY) -> None:
        self.a, self.b = a, b
        self.prefix = prefix
        self.keys_only = keys_only
        self.concurrency = 1 if is_embedded(a.api) and is_embedded(b.api) else max(1, concurrency)
        self.counts = DiffCounts()
        self.done = False
        self._iter: Iterator[Difference] | None = None

    def __iter__(self) -> Iterator[Difference]:
        if self._iter is None:
            self._iter = self._run()
        return self._iter

    def finish(self) -> DiffCounts:
        for _ in self:
            pass
        return self.counts

    @property
    def identical(self) -> bool:
        self.finish()
        return self.counts.identical

    def _jobs(self) -> Iterator[tuple[str, bool, bool]]:
        yield from merge(listed(self.a.api, self.a.store_id, self.prefix, side=self.a.label),
                         listed(self.b.api, self.b.store_id, self.prefix, side=self.b.label))

    def _read(self, job: tuple[str, bool, bool]) -> tuple[str, bool, bool, Item | None, Item | None]:
        key, in_a, in_b = job
        if self.keys_only or not (in_a and in_b):
            return key, in_a, in_b, None, None
        return key, in_a, in_b, read_item(self.a.api, self.a.store_id, key), read_item(self.b.api, self.b.store_id, key)

    def _reads(self) -> Iterator[tuple[str, bool, bool, Item | None, Item | None]]:
        """Every key with both sides' items (when it is on both and values are compared), in order: streamed with
        bounded concurrency between two HTTP backends, a group of keys at a time when a side is embedded (one read
        transaction per group there)."""
        if self.keys_only or not (is_embedded(self.a.api) or is_embedded(self.b.api)):
            yield from ordered_map(self._read, self._jobs(), self.concurrency)
            return
        jobs = self._jobs()
        while True:
            group = list(islice(jobs, GROUP))
            if not group:
                return
            both = [k for k, in_a, in_b in group if in_a and in_b]
            items_a = dict(zip(both, read_many(self.a.api, self.a.store_id, both, self.concurrency), strict=True))
            items_b = dict(zip(both, read_many(self.b.api, self.b.store_id, both, self.concurrency), strict=True))
            for key, in_a, in_b in group:
                yield key, in_a, in_b, items_a.get(key), items_b.get(key)

    def _run(self) -> Iterator[Difference]:
        c = self.counts
        ttl = not self.keys_only and exposes_expiry(self.a.api, self.a.store_id) and \
            exposes_expiry(self.b.api, self.b.store_id)
        c.ttl_compared = ttl
        for key, in_a, in_b, ia, ib in self._reads():
            if in_a and in_b and not self.keys_only:
                if ia is None or ib is None:  # deleted or expired between listing and reading
                    c.vanished += 1
                    in_a, in_b = ia is not None, ib is not None
                    if not in_a and not in_b:
                        continue
            if in_a and in_b:
                c.compared += 1
                what = differences(ia, ib, ttl=ttl) if ia is not None and ib is not None else []
                if not what:
                    c.same += 1
                    continue
                c.differs += 1
                for w in what:
                    c.by_what[w] = c.by_what.get(w, 0) + 1
                yield Difference(key, DIFFERS, tuple(what))
            elif in_a:
                c.only_in_from += 1
                yield Difference(key, ONLY_IN_FROM)
            else:
                c.only_in_to += 1
                yield Difference(key, ONLY_IN_TO)
        self.done = True


__all__ = ["DIFFERS", "ONLY_IN_FROM", "ONLY_IN_TO", "DiffCounts", "DiffRun", "Difference"]
