"""Turning Fastly error responses into kvcli errors.

Fastly answers errors in several shapes, sometimes on the same host:

* legacy (Rails) JSON: ``{"msg": "Record not found", "detail": "Couldn't find …"}``
* an empty body, e.g. every KV 412 (``Content-Length: 0``)
* the KV batch body: ``{"type": …, "title": …, "errors": [{"key", "index", "code", "reason"}]}``
* RFC 7807 ``application/problem+json`` (``title``, ``detail``, ``status``) and JSON:API ``application/vnd.api+json``
  (``{"errors": [{"title", "detail", "code", "status"}]}``)

:func:`parse_error_body` reduces each to a title, a detail and the raw error objects; :func:`build_message` makes the
one-line message every kvcli error carries.
"""

from __future__ import annotations

import json

from kvcli.api.wire import CT_JSONAPI, CT_PROBLEM
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time

MAX_DETAIL_CHARS = 300


@dataclass
class ErrorBody:
    title: str = ""
    detail: str = ""
    errors: list[dict] = field(default_factory=list)
    data: object = None  # the decoded JSON document, when the body was JSON


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Collapse whitespace (CR/LF included) and cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _describe_error_object(obj: dict) -> tuple[str, str]:
    """(title, detail) for one element of an ``errors[]`` array (batch, JSON:API or PY's ErrorResponse)."""
    title = _s(obj.get("title"))
    detail = _s(obj.get("reason") or obj.get("detail"))
    if not title and "index" in obj:
        key = obj.get("key")
        title = f"error at index: {obj.get('index')}" + (f" (key {key!r})" if key else "")
    if not title and obj.get("property"):
        title = f"invalid {obj.get('property')}"
    if not title:
        title = _s(obj.get("code"))
    return title, detail


def parse_error_body(content_type: str, body: bytes) -> ErrorBody:
    """Reduce an error response body of any of Fastly's shapes to title, detail and error objects."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not body.strip():
        return ErrorBody()
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = body.decode("utf-8", "replace")
        if ctype.startswith("text/html"):
            return ErrorBody(title="Undefined error", detail="an HTML page")
        if ctype in ("", "text/plain"):
            return ErrorBody(title=one_line(text, 200))
        return ErrorBody(title="Undefined error", detail=one_line(text))
    if not isinstance(data, dict):
        return ErrorBody(title="Undefined error", detail=one_line(_s(data)), data=data)
    raw_errors = data.get("errors")
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    out = ErrorBody(errors=errors, data=data)
    if ctype == CT_PROBLEM:
        out.title = _s(data.get("title"))
        out.detail = _s(data.get("detail"))
    elif ctype == CT_JSONAPI:
        if len(errors) == 1:
            out.title, out.detail = _describe_error_object(errors[0])
        elif errors:
            out.title = f"{len(errors)} errors"
            first_title, first_detail = _describe_error_object(errors[0])
            out.detail = "first: " + ": ".join(x for x in (first_title, first_detail) if x)
    else:
        out.title = _s(data.get("msg") or data.get("title") or data.get("message") or data.get("error"))
        out.detail = _s(data.get("detail"))
        if errors:
            if len(errors) == 1:
                t, d = _describe_error_object(errors[0])
                if not out.title or out.title == "success":
                    out.title, out.detail = t, d or out.detail
                elif not out.detail:
                    out.detail = ": ".join(x for x in (t, d) if x)
            else:
                t, d = _describe_error_object(errors[0])
                first = ": ".join(x for x in (t, d) if x)
                if not out.title or out.title == "success":
                    out.title = f"{len(errors)} errors"
                out.detail = out.detail or f"first: {first}"
        if not out.title and not out.detail and data.get("type"):
            out.title = _s(data.get("type"))
    out.title = one_line(out.title, 200)
    out.detail = one_line(out.detail)
    return out


def status_text(status: int, reason: str | None = None) -> str:
    if reason:
        return f"{status} {reason}"
    phrase = _phrase(status)
    return f"{status} {phrase}" if phrase else str(status)


def _phrase(status: int) -> str:
    from http import HTTPStatus  # only for messages: not imported by commands that succeed

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def build_message(status: int, reason: str | None, title: str, detail: str) -> str:
    """``the Fastly API returned 404 Not Found: Record not found (Couldn't find …)`` (one line)."""
    msg = f"the Fastly API returned {status_text(status, reason)}"
    if title and title.lower() != (reason or _phrase(status)).lower():
        msg += f": {title}"
    if detail and detail != title:
        msg += f" ({detail})"
    return msg
