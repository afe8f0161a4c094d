"""Plain data passed across the API port. No behaviour beyond small conveniences."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Generic, TypeVar

from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

T = TypeVar("T")

LOCATIONS = ("US", "EU", "ASIA", "AUS")


@dataclass(frozen=True)
class Store:
    id: str
    name: str
    created_at: datetime | None
    updated_at: datetime | None
    location: str | None = None


@dataclass(frozen=True)
class ItemInfo:
    key: str
    generation: int
    metadata: str
    size: int
    last_modified: datetime | None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Item:
    """An item read with its value: ``value`` plus its :class:`ItemInfo` (also reachable as properties)."""

    info: ItemInfo
    value: bytes

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def metadata(self) -> str:
        return self.info.metadata

    @property
    def generation(self) -> int:
        return self.info.generation

    @property
    def expires_at(self) -> datetime | None:
        return self.info.expires_at

    @property
    def last_modified(self) -> datetime | None:
        return self.info.last_modified


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


class PutMode(enum.Enum):
    UPSERT = "upsert"
    ADD = "add"
    APPEND = "append"
    PREPEND = "prepend"


@dataclass(frozen=True)
class BackendLimits:
    """What a backend can take and prefers, declared by its adapter (``KVApi.limits``) for the bulk operations.

    ``batch_entries`` / ``batch_bytes``: the default size of one ``put_batch`` call (entries; estimated encoded
    bytes). ``max_concurrency``: the most requests worth having in flight at once (1: a single writer, so bulk work
    is sent from the calling thread; None: no limit beyond what the caller asks for). ``atomic_batches``: a batch is
    applied whole or not at all (one transaction), rather than entry by entry. ``wire_lines``: ``put_batch`` sends
    each entry as an NDJSON line, so bulk imports pre-encode it while reading. ``in_process``: the backend runs in
    this process (the embedded engine): a call is no request against an API budget, and reads of many keys may go
    through one transaction (``get_items``).
    """

    batch_entries: int = 1000
    batch_bytes: int = 8 * 1024 * 1024
    max_concurrency: int | None = None
    atomic_batches: bool = False
    wire_lines: bool = False
    in_process: bool = False

    def concurrency(self, wanted: int) -> int:
        """The requests to have in flight when ``wanted`` are asked for: at most ``max_concurrency``."""
        return wanted if self.max_concurrency is None else max(1, min(wanted, self.max_concurrency))


@dataclass(frozen=True)
class BatchEntry:
    """One entry of a batch write: the fields of a Fastly NDJSON batch line, value already decoded."""

    key: str
    value: bytes
    metadata: str | None = None
    ttl: int | None = None
    background_fetch: bool = False


@dataclass(frozen=True)
class BatchError:
    index: int
    key: str
    code: str
    reason: str


@dataclass
class BatchResult:
    written: int = 0
    errors: list[BatchError] = field(default_factory=list)


# --------------------------------------------------------------------------- services, versions, resource links
SERVICE_TYPES = ("wasm", "vcl")
RESOURCE_TYPE_KV = "kv-store"


@dataclass(frozen=True)
class Version:
    """One version of a service's configuration. Active or locked versions cannot be edited."""

    service_id: str
    number: int
    active: bool = False
    locked: bool = False
    comment: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    staging: bool = False

    @property
    def editable(self) -> bool:
        return not (self.active or self.locked)


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    type: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    comment: str = ""
    versions: tuple[Version, ...] = ()

    @property
    def active_version(self) -> int | None:
        return next((v.number for v in self.versions if v.active), None)

    @property
    def latest_version(self) -> int | None:
        return max((v.number for v in self.versions), default=None)


@dataclass(frozen=True)
class ResourceLink:
    """A resource (a KV store) attached to one service version under a link name."""

    id: str
    name: str
    resource_id: str
    service_id: str
    version: int
    resource_type: str = RESOURCE_TYPE_KV
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    href: str | None = None
