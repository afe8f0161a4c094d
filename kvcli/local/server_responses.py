"""The local server's responses: Fastly's JSON and legacy error bodies, header values, a store's JSON (used by
:mod:`kvcli.local.server_app` and the route modules)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from kvcli.api import wire
from kvcli.api.errors import ApiError
from kvcli.api.models import Store

#: the legacy error body's ``msg`` for each status (``detail`` carries the specific message)
STATUS_MSG: dict[int, str] = {
    400: "Bad request",
    401: wire.AUTH_FAILED_MSG,
    403: "Forbidden",
    404: "Record not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable entity",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    507: "Insufficient storage",  # disk full, read-only database or I/O error (a StorageError): not worth a retry
}

NESTED_TOO_DEEPLY = "nested too deeply"
#: the body limit of routes that take a small JSON or form body (store names, services, links); GET/HEAD take none
SMALL_BODY_LIMIT = 1024 * 1024
#: a request's headers (names and values) over this are answered 431, whichever HTTP parser read them (h11 refuses
#: longer headers that arrive in pieces itself; kvcli.local.serve counts them for httptools)
MAX_HEADER_BYTES = 64 * 1024


def json_problem(exc: ValueError) -> str:
    """A JSON parse failure in one phrase (``json`` raises a bare ValueError for an integer over 4,300 digits)."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if "digits" in str(exc):
        return "a number has too many digits"
    return str(exc)


def unicode_only(obj: Any) -> bool:
    """True when every string (and object key) in decoded JSON ``obj`` is Unicode text, i.e. has no lone surrogate.
    Iterative: ``obj`` may be nested as deeply as the parser allows."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=wire.CT_JSON, headers=headers)


def legacy_error(status: int, detail: str = "", msg: str | None = None) -> Response:
    """Fastly's legacy (Rails) error body ``{"msg": ..., "detail": ...}``; 412s are always empty."""
    if status == 412:
        return Response(b"", status_code=412)
    body: dict[str, str] = {"msg": msg or STATUS_MSG.get(status, "Error")}
    if detail:
        body["detail"] = detail
    return json_response(body, status)


def error_response(exc: ApiError) -> Response:
    return legacy_error(exc.status or 500, exc.message)


def header_value(text: str) -> str:
    """A str header value whose UTF-8 bytes go on the wire unchanged (Starlette encodes header values as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def store_json(store: Store) -> dict[str, str | None]:
    return {
        "id": store.id,
        "name": store.name,
        "created_at": wire.store_timestamp(store.created_at),
        "updated_at": wire.store_timestamp(store.updated_at),
    }
