"""What the KV endpoints of the HTTP adapter share: paths, error contexts, header checks and parsers, listing pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from kvcli.api.errors import ApiError, InvalidInput
from kvcli.api.http.failures import ErrorContext
from kvcli.api.http.retry import parse_http_date
from kvcli.api.models import (
    Store,
)
from kvcli.api.wire import (
    STORES_PATH,
    parse_timestamp,
)

STORES = tuple(STORES_PATH.strip("/").split("/"))  # ("resources", "stores", "kv")
TRUE = "true"  # booleans go on the wire lower case, and only when true
STORE_LIST_HINT = "run 'kvcli kv-store list' to see the store IDs"
KEY_LIST_HINT = "check the key with 'kvcli kv-store-entry list'"


def _store_context(store_id: str, conflict: str | None = None) -> ErrorContext:
    explain = {404: f"KV store {store_id!r} not found"}
    if conflict:
        explain[409] = conflict
    return ErrorContext(
        explain=explain,
        hints={404: STORE_LIST_HINT, 409: "delete its keys first"},
        reasons={409: "store_not_empty"},
    )


def _item_context(store_id: str, key: str, precondition: str) -> ErrorContext:
    return ErrorContext(
        explain={
            404: f"key {key!r} not found in KV store {store_id!r} (or the store does not exist)",
            412: precondition,
        },
        hints={
            404: f"{KEY_LIST_HINT}, and the store ID with 'kvcli kv-store list'",
            412: "read the current generation with 'kvcli kv-store-entry describe'",
        },
    )


# what an HTTP/1.1 header value can carry (h11's rule): no NUL, no CR/LF/VT/FF, no leading or trailing whitespace
_HEADER_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


def _check_header_metadata(metadata: str | None) -> None:
    """Item writes carry metadata in a header, so some strings the API port accepts cannot be sent."""
    if metadata is not None and not _HEADER_VALUE.fullmatch(metadata.encode("utf-8")):
        raise InvalidInput(
            f"metadata {metadata[:40]!r} cannot be sent in an HTTP header (the Fastly API carries it in one)",
            "remove leading or trailing whitespace and control characters such as NUL, or write the entry "
            "with a batch, as an import does, which carries metadata in JSON",
            reason="metadata_not_header",
        )


def _check_generation(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(f"invalid if-generation-match {value!r}: it must be a whole number ≥ 0")


def _http_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        dt = parse_http_date(raw)
    except (TypeError, ValueError, IndexError):
        return parse_timestamp(raw)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _int_header(headers: Any, name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def _store(obj: Any, location: str | None = None) -> Store:
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ApiError("the Fastly API answered with something that is not a KV store object")
    return Store(
        id=obj["id"],
        name=str(obj.get("name", "")),
        created_at=parse_timestamp(obj.get("created_at")),
        updated_at=parse_timestamp(obj.get("updated_at")),
        location=obj.get("location") or location,
    )


def _page_fields(doc: Any) -> tuple[list, str | None, int | None]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data", []), list):
        raise ApiError("the Fastly API answered a listing without a 'data' array")
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    cursor = meta.get("next_cursor") or None  # absent OR empty: no more pages
    total = meta.get("total")
    return doc.get("data") or [], cursor if isinstance(cursor, str) else None, total if isinstance(total, int) else None
