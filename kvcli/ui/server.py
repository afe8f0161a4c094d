"""The explorer's Starlette app: the page, its static files, and the JSON API the page calls.

Security (docs/ui.md, "Security"):

- every request needs the access token: ``?token=`` on the first page load (which turns it into an ``HttpOnly``,
  ``SameSite=Strict`` cookie), the cookie after that; anything else is 403;
- the Host must be a loopback name (no DNS rebinding), and an ``Origin`` / ``Sec-Fetch-Site`` of another site is
  refused (the checks of ``kvcli local serve``, :class:`kvcli.local.server.HostPolicy`); a write (any method but
  GET and HEAD) must moreover prove it is same-origin (``Origin`` is the page's own, or ``Sec-Fetch-Site:
  same-origin``);
- every answer carries a strict Content-Security-Policy (scripts and styles only from the package's own files, no
  inline script), ``X-Content-Type-Options: nosniff``, ``no-store`` and ``no-referrer``; values and exports are
  downloads (``Content-Disposition: attachment``), never rendered by the browser;
- nothing in a page or answer comes from the backend's credentials: the backend is described by
  :meth:`kvcli.config.Target.describe` (no token), and error messages are redacted.

The API works on the library (:class:`kvcli.KV`, :class:`kvcli.Store`); a page of keys is one ``list_keys``
request of the port (``kv.api``), so that no view ever lists a whole store.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kvcli.api.errors import InvalidInput, KvcliError, NotFound
from kvcli.ui.values import describe_value

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
EXPORT_FORMATS = {"ndjson": ".ndjson", "viceroy": ".json", "wrangler": ".json"}


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


# ------------------------------------------------------------------------------------------------ the app
class Explorer:
    """The explorer's state: the connection, the access token, the import jobs."""

    def __init__(self, kv: KV, token: str, *, description: str, display_limit: int = DISPLAY_LIMIT,
                 page_size: int = PAGE_SIZE, upload_dir: str | None = None) -> None:
        from kvcli.local.server import HostPolicy

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


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(explorer: Explorer) -> Starlette:
    """The ASGI app of ``explorer``."""
    from starlette.concurrency import run_in_threadpool

    def endpoint(fn: Callable[[Request], Response], *, body: bool = False) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            try:
                with_token = explorer.check(request)
            except Refused as exc:
                return _secure(PlainTextResponse(exc.message + "\n", status_code=exc.status)
                               if not request.url.path.startswith("/api/")
                               else error_json(exc.message, exc.status, "refused"))
            try:
                if body:
                    request.state.body = await _read_json(request)
                response = await run_in_threadpool(fn, request)
            except Refused as exc:
                response = error_json(exc.message, exc.status, "refused")
            except KvcliError as exc:
                response = kv_error(exc)
            except Exception as exc:  # noqa: BLE001 - the page gets one line, never a traceback
                response = error_json(f"internal error: {type(exc).__name__}: {exc}", 500, "internal")
            if with_token:
                response.set_cookie(COOKIE, explorer.token, httponly=True, samesite="strict", path="/")
            return _secure(response)

        return handle

    async def upload(request: Request) -> Response:
        try:
            explorer.check(request)
        except Refused as exc:
            return _secure(error_json(exc.message, exc.status, "refused"))
        try:
            response = await _start_import(explorer, request)
        except Refused as exc:
            response = error_json(exc.message, exc.status, "refused")
        except KvcliError as exc:
            response = kv_error(exc)
        except Exception as exc:  # noqa: BLE001
            response = error_json(f"internal error: {type(exc).__name__}: {exc}", 500, "internal")
        return _secure(response)

    routes = [
        Route("/", endpoint(lambda r: _static("index.html")), methods=["GET"]),
        Route("/static/{name}", endpoint(lambda r: _static(r.path_params["name"])), methods=["GET"]),
        Route("/api/info", endpoint(lambda r: _info(explorer)), methods=["GET"]),
        Route("/api/stores", endpoint(lambda r: _stores(explorer)), methods=["GET"]),
        Route("/api/stores", endpoint(lambda r: _create_store(explorer, r), body=True), methods=["POST"]),
        Route("/api/stores/{sid}", endpoint(lambda r: _get_store(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/delete", endpoint(lambda r: _delete_store(explorer, r), body=True),
              methods=["POST"]),
        Route("/api/stores/{sid}/keys", endpoint(lambda r: _keys(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/item", endpoint(lambda r: _item(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/item", endpoint(lambda r: _put(explorer, r), body=True), methods=["PUT"]),
        Route("/api/stores/{sid}/item/delete", endpoint(lambda r: _delete(explorer, r), body=True),
              methods=["POST"]),
        Route("/api/stores/{sid}/value", endpoint(lambda r: _download(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/count", endpoint(lambda r: _count(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/delete-prefix", endpoint(lambda r: _delete_prefix(explorer, r), body=True),
              methods=["POST"]),
        Route("/api/stores/{sid}/export", endpoint(lambda r: _export(explorer, r)), methods=["GET"]),
        Route("/api/stores/{sid}/import", upload, methods=["POST"]),
        Route("/api/jobs/{jid}", endpoint(lambda r: _job(explorer, r)), methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        try:
            explorer.check(request)
        except Refused as refused:
            return _secure(PlainTextResponse(refused.message + "\n", status_code=refused.status))
        status = getattr(exc, "status_code", 404)
        return _secure(error_json("no such page" if status == 404 else "method not allowed", status, "not_found"))

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


async def _read_json(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > JSON_BODY_LIMIT:
        raise Refused(413, f"request body over {JSON_BODY_LIMIT} bytes")
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        # also what keeps a cross-site form (which cannot send JSON) out, on top of the Origin checks
        raise Refused(415, "the API takes application/json bodies")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > JSON_BODY_LIMIT:
            raise Refused(413, f"request body over {JSON_BODY_LIMIT} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise Refused(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object")
    return body


def _static(name: str) -> Response:
    if not re.fullmatch(r"[a-z0-9_-]+\.(js|css|html|svg)", name):
        raise NotFound(f"no static file {name!r}")
    folder = resources.files("kvcli.ui") / "static"
    target = folder / name
    if not target.is_file():
        raise NotFound(f"no static file {name!r}")
    return Response(target.read_bytes(), media_type=STATIC_TYPES[Path(name).suffix])


def _info(explorer: Explorer) -> Response:
    return JSONResponse({"backend": explorer.description, "local": explorer.kv.local,
                         "display_limit": explorer.display_limit, "page_size": explorer.page_size})


def _stores(explorer: Explorer) -> Response:
    return JSONResponse({"stores": [store_json(s) for s in explorer.kv.stores()]})


def _get_store(explorer: Explorer, request: Request) -> Response:
    explorer.forget(request.path_params["sid"])  # a page (re)opens the store: its name as it is now
    return JSONResponse(store_json(explorer.store(request)))


def _create_store(explorer: Explorer, request: Request) -> Response:
    body = request.state.body
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a store needs a name", "type a name")
    location = body.get("location") or None
    if location is not None and not isinstance(location, str):
        raise InvalidInput("location must be text")
    return JSONResponse(store_json(explorer.kv.create_store(name.strip(), location)), status_code=201)


def _delete_store(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    if request.state.body.get("confirm") != store.name:
        raise InvalidInput("the name typed does not match the store's", f"type {store.name!r} to confirm")
    explorer.kv.delete_store(store)
    explorer.forget(store.id)
    return JSONResponse({"deleted": store.id})


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidInput(f"limit must be a whole number from 1 to 1000 (got {raw!r})")
    return int(raw)


def _keys(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    prefix = request.query_params.get("prefix") or None
    cursor = request.query_params.get("cursor") or None
    page = explorer.kv.api.list_keys(store.id, prefix=prefix, cursor=cursor,
                                     limit=_limit(request, explorer.page_size))
    return JSONResponse({"keys": list(page.items), "next_cursor": page.next_cursor or None})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _item(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    key = explorer.key_param(request)
    info = store.describe(key)
    out: dict[str, Any] = {
        "key": info.key, "size": info.size, "generation": info.generation, "metadata": info.metadata or "",
        "last_modified": _iso(info.last_modified), "expires_at": _iso(info.expires_at),
    }
    if info.size > explorer.display_limit:
        out["too_large"] = True
        return JSONResponse(out)
    item = store.get(key)
    out.update(size=len(item.value), generation=item.info.generation, metadata=item.info.metadata or "",
               expires_at=_iso(item.info.expires_at))
    if len(item.value) > explorer.display_limit:
        out["too_large"] = True
    else:
        out.update(describe_value(item.value))
    return JSONResponse(out)


def _download(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    key = explorer.key_param(request)
    item = store.get(key)
    name = key.rsplit("/", 1)[-1] or "value"
    return Response(item.value, media_type="application/octet-stream",
                    headers={"Content-Disposition": attachment(name)})


def _optional_int(body: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number of at least {minimum} (got {value!r})")
    return value


def _put(explorer: Explorer, request: Request) -> Response:
    import base64

    store = explorer.store(request)
    body = request.state.body
    key = body.get("key")
    if not isinstance(key, str) or key == "":
        raise InvalidInput("a key is needed", "type a key")
    if isinstance(body.get("value_base64"), str):
        try:
            value = base64.b64decode(body["value_base64"], validate=True)
        except ValueError:
            raise InvalidInput("value_base64 is not base64") from None
    elif isinstance(body.get("value"), str):
        value = body["value"].encode("utf-8")
    else:
        raise InvalidInput("no value given")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise InvalidInput("metadata must be text")
    ttl = _optional_int(body, "ttl", 1)
    generation = _optional_int(body, "if_generation_match")
    if ttl is None and generation:  # an edit without a new TTL keeps the key's expiry (a put would drop it)
        ttl = _remaining_ttl(store, key)
    try:
        store.put(key, value, metadata=metadata or None, ttl=ttl, if_generation_match=generation)
    except KvcliError as exc:
        if exc.kind == "precondition_failed" and generation is not None:
            raise type(exc)(
                "the key was added by someone else meanwhile" if generation == 0 else
                f"{key!r} was changed since you opened it (you edited generation {generation}); nothing was written",
                "reload it to see the current value, then edit again") from None
        raise
    info = store.describe(key)
    return JSONResponse({"key": key, "generation": info.generation, "size": info.size})


def _remaining_ttl(store: Store, key: str) -> int | None:
    import math
    from datetime import UTC, datetime

    try:
        expires = store.describe(key).expires_at
    except NotFound:
        return None  # gone: the conditional put reports it
    if expires is None:
        return None
    return max(1, math.ceil((expires - datetime.now(UTC)).total_seconds()))


def _delete(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    body = request.state.body
    key = body.get("key")
    if not isinstance(key, str) or key == "":
        raise InvalidInput("a key is needed")
    generation = _optional_int(body, "if_generation_match")
    try:
        store.delete(key, if_generation_match=generation)
    except KvcliError as exc:
        if exc.kind == "precondition_failed":
            raise type(exc)(f"{key!r} was changed since you opened it; it was not deleted",
                            "reload it, then delete again") from None
        raise
    return JSONResponse({"deleted": key})


def _count_keys(explorer: Explorer, store: Store, prefix: str | None) -> tuple[int, int]:
    """(keys under prefix, list requests it took): key names only, a page at a time, nothing kept."""
    from kvcli.api.port import iter_keys

    count = pages = 0
    for page in iter_keys(explorer.kv.api, store.id, prefix=prefix, page_size=COUNT_PAGE):
        pages += 1
        count += len(page.items)
    return count, pages


def _count(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    prefix = request.query_params.get("prefix") or None
    count, pages = _count_keys(explorer, store, prefix)
    out: dict[str, Any] = {"prefix": prefix or "", "count": count}
    if not explorer.kv.local:
        # over the Fastly API a bulk delete checks the store, lists the keys again (1,000 a page, as here) and
        # sends one DELETE per key: each counts against the account's API rate limit
        out["requests"] = 1 + pages + count
    return JSONResponse(out)


def _delete_prefix(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    body = request.state.body
    prefix = body.get("prefix", "")
    if not isinstance(prefix, str):
        raise InvalidInput("prefix must be text")
    expected = _optional_int(body, "expected_count")
    if expected is None:
        raise InvalidInput("count the keys first", "the page asks for the count before it deletes")
    deleted = store.delete_prefix(prefix) if prefix else store.clear()
    return JSONResponse({"deleted": deleted, "prefix": prefix})


def _export(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    fmt = (request.query_params.get("format") or "ndjson").lower()
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}", f"use one of: {', '.join(EXPORT_FORMATS)}")
    prefix = request.query_params.get("prefix") or None
    folder = tempfile.mkdtemp(prefix="kvcli-ui-export-", dir=explorer.upload_dir)
    path = os.path.join(folder, "export" + EXPORT_FORMATS[fmt])
    try:
        store.export(path, format=fmt, prefix=prefix)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    label = store.name + (f"-{prefix}" if prefix else "")
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Content-Disposition": attachment(label + EXPORT_FORMATS[fmt])},
                        background=BackgroundTask(shutil.rmtree, folder, True))


def _job(explorer: Explorer, request: Request) -> Response:
    with explorer.jobs_lock:
        job = explorer.jobs.get(request.path_params["jid"])
        if job is None:
            raise NotFound("no such import")
        return JSONResponse(dict(job))


async def _start_import(explorer: Explorer, request: Request) -> Response:
    """Save the upload (streamed to a private temporary file, capped), then import it in a thread; the page polls
    ``/api/jobs/ID`` for its progress."""
    from starlette.concurrency import run_in_threadpool

    store = await run_in_threadpool(explorer.store, request)
    name = request.query_params.get("filename") or "upload"
    fmt = request.query_params.get("format") or None
    suffix = "".join(Path(name).suffixes[-2:])
    if not re.fullmatch(r"(\.[A-Za-z0-9]{1,10}){0,2}", suffix):
        suffix = ""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        raise Refused(413, f"the file is over {UPLOAD_LIMIT} bytes")
    folder = tempfile.mkdtemp(prefix="kvcli-ui-import-", dir=explorer.upload_dir)
    path = os.path.join(folder, "upload" + suffix)
    size = 0
    try:
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    raise Refused(413, f"the file is over {UPLOAD_LIMIT} bytes")
                fh.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    jid = uuid.uuid4().hex
    job: dict[str, Any] = {"id": jid, "state": "running", "written": 0, "failed": 0, "skipped": 0,
                           "file": name, "bytes": size}
    with explorer.jobs_lock:
        explorer.jobs[jid] = job

    def progress(report: Any) -> None:
        with explorer.jobs_lock:
            job.update(written=report.written, failed=report.failed, skipped=getattr(report, "skipped", 0))

    def work() -> None:
        from kvcli.redact import redact

        try:
            report = store.import_file(path, format=fmt, on_progress=progress)
            with explorer.jobs_lock:
                job.update(state="done", written=report.written, failed=report.failed,
                           skipped=getattr(report, "skipped", 0))
        except KvcliError as exc:
            hint = exc.hint
            if exc.reason == "format_unknown_input":  # the page has a Format menu where the CLI has --format
                hint = f"choose the Format, one of: {exc.facts.get('formats')}"
            text = exc.message.rstrip(".") + (f" (hint: {hint})" if hint else "")
            text = text.replace(path, name)  # the page knows the file by the name it was uploaded as
            failed_report: Any = getattr(exc, "report", None)
            errors = []
            if failed_report is not None:
                errors = [{"line": e.get("line"), "key": e.get("key"), "detail": e.get("detail")}
                          for e in list(getattr(failed_report, "errors", []))[:20]]
            with explorer.jobs_lock:
                job.update(state="failed", error=redact(text), kind=exc.kind, errors=errors)
                if failed_report is not None:
                    job.update(written=failed_report.written, failed=failed_report.failed)
        except Exception as exc:  # noqa: BLE001 - shown in the page in one line
            with explorer.jobs_lock:
                job.update(state="failed", error=f"internal error: {type(exc).__name__}: {exc}", kind="internal")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    threading.Thread(target=work, name=f"kvcli-ui-import-{jid[:8]}", daemon=True).start()
    return JSONResponse({"job": jid}, status_code=202)
