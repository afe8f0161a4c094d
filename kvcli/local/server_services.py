"""The ``/service/...`` endpoints of ``kvcli local serve``: services, versions, details and resource links.

Registered by :func:`kvcli.local.server.build_router` (this module is named in its ``ROUTE_MODULES``). Shapes follow
the recordings of the real API (docs/resource-links.md, "Wire format"; docs/local-serve.md, "Services and versions:
the recorded shapes"): form-encoded request bodies, 200 on create,
bare JSON arrays, ``{"status": "ok"}`` on delete, Rails-style ``{"msg", "detail"}`` errors (404 "Record not found",
409 "Duplicate record", 422 "Version locked"), RFC 3339 timestamps, and ``Fastly-RateLimit-Remaining`` /
``Fastly-RateLimit-Reset`` headers on every request that is not a read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.responses import Response

from kvcli.api import wire
from kvcli.api.errors import ApiError, InvalidInput, NotFound
from kvcli.api.models import Version
from kvcli.local.server_base import Call, Router, json_response, legacy_error
from kvcli.local.server_services_json import (  # noqa: F401 - re-exported
    LOCAL_CUSTOMER_ID,
    VALIDATE_OK,
    VCL_DEFAULT_SETTINGS,
    VCL_DETAIL_LISTS,
    WASM_DETAIL_LISTS,
    link_json,
    service_base_json,
    service_json,
    service_list_json,
    version_detail_json,
    version_json,
)

#: the rate-limit window the headers describe (Fastly: non-read requests per hour; recordings show 10 000)
RATE_LIMIT_PER_HOUR = 10_000
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 1000

SERVICES = wire.SERVICE_PATH
SEARCH = f"{SERVICES}/{wire.SEARCH_SEGMENT}"
SERVICE = SERVICES + "/{service_id}"
DETAILS = f"{SERVICE}/{wire.DETAILS_SEGMENT}"
VERSIONS = f"{SERVICE}/{wire.VERSION_SEGMENT}"
VERSION = VERSIONS + "/{version}"
VALIDATE = f"{VERSION}/{wire.VALIDATE_SEGMENT}"
SERVICE_DOMAINS = f"{SERVICE}/{wire.DOMAIN_SEGMENT}"
VERSION_DOMAINS = f"{VERSION}/{wire.DOMAIN_SEGMENT}"
LINKS = f"{VERSION}/{wire.RESOURCE_SEGMENT}"
LINK = LINKS + "/{link_id}"


# ----------------------------------------------------------------------------------------------- helpers
def form(call: Call) -> dict[str, str]:
    """The request's form fields (``application/x-www-form-urlencoded``; a JSON object is accepted too)."""
    ctype = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == wire.CT_JSON:
        obj = call.json_body()
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise InvalidInput("request body must be a form (or a JSON object)")
        return {str(k): "" if v is None else str(v) for k, v in obj.items()}
    try:
        text = call.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("form body is not UTF-8") from None
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def version_number(call: Call) -> int:
    raw = call.params["version"]
    if not raw.isdigit() or int(raw) < 1:
        sid = call.params["service_id"]
        raise NotFound(
            f"version {raw!r} of service {sid!r} not found",
            title=wire.MSG_NOT_FOUND,
            detail=f"Couldn't find Version '{{ number => {raw}, service => {sid} }}'",
        )
    return int(raw)


def status_ok() -> Response:
    return json_response(wire.STATUS_OK)


class RateWindow:
    """``Fastly-RateLimit-*`` bookkeeping: a per-hour budget that counts non-read requests (never enforced)."""

    def __init__(self, limit: int = RATE_LIMIT_PER_HOUR, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.window = -1
        self.remaining = limit
        self.lock = threading.Lock()

    def take(self) -> dict[str, str]:
        with self.lock:
            window = int(self.clock() // 3600)
            if window != self.window:
                self.window, self.remaining = window, self.limit
            self.remaining = max(0, self.remaining - 1)
            return {wire.H_RL_REMAINING: str(self.remaining), wire.H_RL_RESET: str((window + 1) * 3600)}


def api_error(exc: ApiError) -> Response:
    """The legacy body with Fastly's ``msg`` (the error's title, e.g. "Version locked") and ``detail``."""
    return legacy_error(exc.status or 500, exc.detail or exc.message, msg=exc.title or None)


# ---------------------------------------------------------------------------------------------- handlers
def list_services(call: Call) -> Response:
    services = call.engine.list_services()
    if (call.q("sort") or "created") == "name":
        services.sort(key=lambda s: s.name)
    if (call.q("direction") or "ascend").lower().startswith("desc"):
        services.reverse()
    page = call.int_param(wire.Q_PAGE) or 1
    per_page = min(call.int_param(wire.Q_PER_PAGE) or DEFAULT_PER_PAGE, MAX_PER_PAGE)
    start = (page - 1) * per_page
    chunk = services[start : start + per_page]
    headers = {}
    last = max(1, -(-len(services) // per_page))
    if page < last:
        base = str(call.request.url).split("?")[0]
        query = {k: v[-1] for k, v in call.query.items()}

        def link(n: int) -> str:
            return base + "?" + urlencode(query | {wire.Q_PAGE: str(n), wire.Q_PER_PAGE: str(per_page)})

        headers["Link"] = f'<{link(page + 1)}>; rel="next", <{link(last)}>; rel="last"'
    return json_response([service_list_json(s) for s in chunk], headers=headers)


def create_service(call: Call) -> Response:
    fields = form(call)
    svc = call.engine.create_service(fields.get("name", ""), fields.get("type") or "vcl", fields.get("comment", ""))
    return json_response(service_json(svc))


def search_service(call: Call) -> Response:
    name = call.q("name")
    if not name:
        raise InvalidInput("missing name", "pass ?name=<service name>")
    return json_response(service_base_json(call.engine.find_service(name)))


def get_service(call: Call) -> Response:
    return json_response(service_json(call.engine.get_service(call.params["service_id"])))


def update_service(call: Call) -> Response:
    """Rename and/or re-comment; other fields (go-fastly also sends ``ServiceID``) are ignored."""
    fields = form(call)
    sid = call.params["service_id"]
    if "name" not in fields and "comment" not in fields:  # nothing to change: answer the service as it is
        return json_response(service_json(call.engine.get_service(sid)))
    svc = call.engine.update_service(sid, name=fields.get("name"), comment=fields.get("comment"))
    return json_response(service_json(svc))


def service_domains(call: Call) -> Response:
    """The domains of all versions: none on the embedded backend (it has no domains)."""
    call.engine.get_service(call.params["service_id"])
    return json_response([])


def delete_service(call: Call) -> Response:
    call.engine.delete_service(call.params["service_id"])
    return status_ok()


def service_details(call: Call) -> Response:
    engine = call.engine
    svc = engine.get_service(call.params["service_id"])
    active = next((v for v in svc.versions if v.active), None)
    latest = max(svc.versions, key=lambda v: v.number) if svc.versions else None
    wanted = call.int_param("version")
    if wanted is not None:
        version: Version | None = engine.get_version(svc.id, wanted)
    elif call.flag(wire.Q_FILTER_STAGED) and not call.flag(wire.Q_FILTER_ACTIVE):
        # unrecorded: only the staged version (none here: no staging), so the official CLI's `--version staged`
        # says "no staged service version found" instead of taking the latest for the staged one
        version = next((v for v in svc.versions if v.staging), None)
    else:
        version = active or latest  # recorded: with both filters and nothing active or staged, the latest
    body = service_base_json(svc) | {
        "version": version_detail_json(version, svc.type),
        "active_version": version_detail_json(active, svc.type),
    }
    return json_response(body)


def list_versions(call: Call) -> Response:
    return json_response([version_json(v) for v in call.engine.list_versions(call.params["service_id"])])


def create_version(call: Call) -> Response:
    """``service_id`` and ``number``; ``comment`` too when the request sent one (as recorded)."""
    fields = form(call)
    v = call.engine.create_version(call.params["service_id"], fields.get("comment", ""))
    body: dict[str, Any] = {"comment": v.comment} if "comment" in fields else {}
    return json_response(body | {"service_id": v.service_id, "number": v.number})


def update_version(call: Call) -> Response:
    fields = form(call)
    sid, number = call.params["service_id"], version_number(call)
    if "comment" not in fields:  # nothing else of a version can be changed: answer it as it is
        return json_response(version_json(call.engine.get_version(sid, number)))
    return json_response(version_json(call.engine.update_version(sid, number, fields["comment"])))


def validate_version(call: Call) -> Response:
    call.engine.get_version(call.params["service_id"], version_number(call))
    return json_response(VALIDATE_OK)


def version_domains(call: Call) -> Response:
    """The domains of a version: always none on the embedded backend."""
    call.engine.get_version(call.params["service_id"], version_number(call))
    return json_response([])


def get_version(call: Call) -> Response:
    return json_response(version_json(call.engine.get_version(call.params["service_id"], version_number(call))))


def version_action(action: str) -> Callable[[Call], Response]:
    def handler(call: Call) -> Response:
        method = getattr(call.engine, f"{action}_version")
        return json_response(version_json(method(call.params["service_id"], version_number(call))))

    handler.__name__ = f"{action}_version"
    return handler


def list_links(call: Call) -> Response:
    links = call.engine.list_links(call.params["service_id"], version_number(call))
    return json_response([link_json(x) for x in links])


def create_link(call: Call) -> Response:
    fields = form(call)
    link = call.engine.create_link(
        call.params["service_id"], version_number(call), fields.get("resource_id", ""), fields.get("name") or None
    )
    return json_response(link_json(link))


def get_link(call: Call) -> Response:
    link = call.engine.get_link(call.params["service_id"], version_number(call), call.params["link_id"])
    return json_response(link_json(link))


def update_link(call: Call) -> Response:
    fields = form(call)
    link = call.engine.update_link(
        call.params["service_id"],
        version_number(call),
        call.params["link_id"],
        name=fields.get("name") or None,
        resource_id=fields.get("resource_id") or None,
    )
    return json_response(link_json(link))


def delete_link(call: Call) -> Response:
    call.engine.delete_link(call.params["service_id"], version_number(call), call.params["link_id"])
    return status_ok()


# ---------------------------------------------------------------------------------------------- register
def _wrap(handler: Callable[[Call], Response], rate: RateWindow | None) -> Callable[[Call], Response]:
    """Errors as ``{"msg", "detail"}`` with Fastly's titles; rate-limit headers on non-read requests."""

    def run(call: Call) -> Response:
        headers = rate.take() if rate is not None else {}
        try:
            response = handler(call)
        except ApiError as exc:
            response = api_error(exc)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def register(router: Router, rate: RateWindow | None = None) -> None:
    """Add the ``/service`` routes (``/service/search`` before ``/service/{service_id}``: first match wins)."""
    rate = rate or RateWindow()
    routes: list[tuple[str, str, Callable[[Call], Response]]] = [
        ("GET", SERVICES, list_services),
        ("POST", SERVICES, create_service),
        ("GET", SEARCH, search_service),
        ("GET", SERVICE, get_service),
        ("PUT", SERVICE, update_service),
        ("DELETE", SERVICE, delete_service),
        ("GET", DETAILS, service_details),
        ("GET", SERVICE_DOMAINS, service_domains),
        ("GET", VERSIONS, list_versions),
        ("POST", VERSIONS, create_version),
        ("GET", VERSION, get_version),
        ("PUT", VERSION, update_version),
        ("GET", VALIDATE, validate_version),
        ("GET", VERSION_DOMAINS, version_domains),
        *(("PUT", f"{VERSION}/{action}", version_action(action)) for action in wire.VERSION_ACTIONS),
        ("GET", LINKS, list_links),
        ("POST", LINKS, create_link),
        ("GET", LINK, get_link),
        ("PUT", LINK, update_link),
        ("DELETE", LINK, delete_link),
    ]
    for method, pattern, handler in routes:
        router.add(method, pattern, _wrap(handler, None if method in ("GET", "HEAD") else rate))


__all__ = [
    "register", "service_json", "service_base_json", "service_list_json", "version_json", "link_json", "RateWindow",
]  # fmt: skip
