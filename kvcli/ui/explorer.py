"""The explorer's state and what every route shares: limits, security headers, refusals, JSON error bodies.

See :mod:`kvcli.ui.server` for the security model (token cookie, loopback Host, same-origin writes, CSP).
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from kvcli.api.errors import InvalidInput, KvcliError, NotFound

if TYPE_CHECKING:
    from kvcli.library import KV
    from kvcli.library_store import Store

COOKIE = "kvcli_ui"
#: values larger than this are offered as a download, not shown
DISPLAY_LIMIT = 1024 * 1024
#: keys per page of a listing
PAGE_SIZE = 500
#: the largest JSON body the API reads (a value being written, as text or base64, plus its metadata)
JSON_BODY_LIMIT = 40 * 1024 * 1024
#: the largest upload for an import
UPLOAD_LIMIT = 2 * 1024 * 1024 * 1024
#: keys listed per request when a prefix is counted before a bulk delete
COUNT_PAGE = 1000

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATUS = {
    "not_found": 404, "conflict": 409, "precondition_failed": 412, "invalid_input": 400, "too_large": 413,
    "usage": 400, "auth": 502, "rate_limited": 429, "partial_failure": 207,
}  # fmt: skip
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------------------------------------------ responses
def error_json(message: str, status: int, kind: str = "error", **extra: Any) -> JSONResponse:
    from kvcli.redact import redact, visible

    return JSONResponse({"error": visible(redact(message)), "kind": kind, **extra}, status_code=status)


def kv_error(exc: KvcliError) -> JSONResponse:
    text = exc.message.rstrip(".")
    if exc.hint:
        text += f" (hint: {exc.hint})"
    extra: dict[str, Any] = {}
    report = getattr(exc, "report", None)
    if report is not None and hasattr(report, "to_json"):
        try:
            extra["report"] = json.loads(json.dumps(report.to_json(), default=str))
        except (TypeError, ValueError):
            pass
    return error_json(text, STATUS.get(exc.kind, 502), exc.kind, **extra)


def attachment(name: str) -> str:
    """A Content-Disposition that makes the browser save, never show: an ASCII fallback name and the UTF-8 one."""
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "value"
    return f"attachment; filename=\"{ascii_name[:120]}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


def store_json(store: Store) -> dict[str, Any]:
    created = store.created_at
    return {"id": store.id, "name": store.name, "location": store.location,
            "created_at": created.isoformat() if created else None}


class Explorer:
    """The explorer's state: the connection, the access token, the import jobs."""

    def __init__(self, kv: KV, token: str, *, description: str, display_limit: int = DISPLAY_LIMIT,
                 page_size: int = PAGE_SIZE, upload_dir: str | None = None) -> None:
        from kvcli.local.server_safety import HostPolicy

        self.kv = kv
        self.token = token
        self.description = description
        self.display_limit = display_limit
        self.page_size = page_size
        self.hosts = HostPolicy(check_host=True)
        self.upload_dir = upload_dir
        self.jobs: dict[str, dict[str, Any]] = {}
        self.stores: dict[str, Store] = {}
        self.jobs_lock = threading.Lock()

    # ----------------------------------------------------------------------------------------- the checks
    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())  # type: ignore[union-attr]

    def check(self, request: Request) -> bool:
        """Raise Refused unless the request may be answered; True when it came with ``?token=`` (set the cookie)."""
        headers = request.headers
        from_query = self.token_ok(request.query_params.get("token")) and request.url.path == "/" and \
            request.method in ("GET", "HEAD")
        site = (headers.get("sec-fetch-site") or "").strip().lower()
        if from_query and site == "cross-site" and headers.get("origin") is None:
            # the first page load, from the redirect file or a link: the token in the URL is the proof. Host still
            # counts (a rebound name is refused below through the policy's Host check).
            problem = self.hosts.problem({"host": headers.get("host")}, dict(request.scope))
        else:
            problem = self.hosts.problem(headers, dict(request.scope))
        if problem is not None:
            raise Refused(403, re.sub(r"\(hint: start it with --allow-host [^)]*\)",
                                      "(hint: open the URL that 'kvcli ui' printed)", problem))
        if not from_query and not self.token_ok(request.cookies.get(COOKIE)):
            raise Refused(403, "this page needs the access token: open the URL that 'kvcli ui' printed")
        if request.method not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if site != "same-origin" and (origin is None or not self.hosts.own_origin(origin, headers.get("host"),
                                                                                      dict(request.scope))):
                raise Refused(403, "a change must come from the explorer's own page (same-origin request)")
        return from_query

    # ------------------------------------------------------------------------------------------- helpers
    def store(self, request: Request) -> Store:
        """The store of the path's ID: looked up once (by ID, one request), then remembered."""
        from kvcli.library_store import Store

        sid = request.path_params["sid"]
        with self.jobs_lock:
            known = self.stores.get(sid)
        if known is not None:
            return known
        try:
            info = self.kv.api.get_store(sid)
        except InvalidInput:
            raise NotFound(f"no KV store with ID {sid!r}", "pick one on the Stores page") from None
        handle = Store(self.kv, info)
        with self.jobs_lock:
            self.stores[sid] = handle
        return handle

    def forget(self, sid: str) -> None:
        with self.jobs_lock:
            self.stores.pop(sid, None)

    @staticmethod
    def key_param(request: Request) -> str:
        key = request.query_params.get("key")
        if key is None or key == "":
            raise InvalidInput("no key given", "pass ?key=")
        return key
