"""Plain data passed across the API port. No behaviour beyond small conveniences."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

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
    info: ItemInfo
    value: bytes

    @property
    def key(self) -> str:
        return self.info.key


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
