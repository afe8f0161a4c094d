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

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kvcli.api.errors import KvcliError
from kvcli.ui.explorer import (  # noqa: F401 - re-exported: kvcli.ui.server is where callers find them
    COOKIE,
    CSP,
    DISPLAY_LIMIT,
    JSON_BODY_LIMIT,
    PAGE_SIZE,
    SECURITY_HEADERS,
    UPLOAD_LIMIT,
    Explorer,
    Refused,
    error_json,
    kv_error,
)
from kvcli.ui.handlers import (
    _count,
    _create_store,
    _delete,
    _delete_prefix,
    _delete_store,
    _download,
    _export,
    _get_store,
    _info,
    _item,
    _job,
    _keys,
    _put,
    _read_json,
    _start_import,
    _static,
    _stores,
)


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
