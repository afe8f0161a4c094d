"""The services half of the HTTP adapter: services, versions and resource links over Fastly's ``/service`` API.

:class:`ServicesHttpMixin` is a base class of :class:`kvcli.api.http.HttpAdapter`; it builds on
:meth:`FastlyHttp._request` (auth, retries, debug output, error bodies). Requests carry form-encoded bodies and the
answers are JSON (bare arrays for listings). A 422 "Version locked" answer becomes :class:`VersionLocked`.

Retries: reads, updates (service name and comment, version comment), ``lock`` and ``activate`` (repeating them
changes nothing) and DELETEs are retried after a failure that may have reached the server; creates, ``clone`` and
``deactivate`` are not (a repeat would clone twice, or fail because the first attempt already deactivated the
version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kvcli.api import validation
from kvcli.api.errors import ApiError, InvalidInput, NotFound, VersionLocked
from kvcli.api.http.failures import ErrorContext
from kvcli.api.models import RESOURCE_TYPE_KV, ResourceLink, Service, Version
from kvcli.api.wire import (
    DETAILS_SEGMENT,
    MSG_VERSION_LOCKED,
    Q_FILTER_ACTIVE,
    Q_FILTER_STAGED,
    Q_PAGE,
    Q_PER_PAGE,
    RESOURCE_SEGMENT,
    SEARCH_SEGMENT,
    SERVICE_PATH,
    VERSION_SEGMENT,
    parse_timestamp,
)

if TYPE_CHECKING:
    import httpx

SERVICE = SERVICE_PATH.strip("/")  # "service"
PER_PAGE = 100
MAX_PAGES = 10_000  # a guard against a server whose Link header never ends

SERVICE_HINT = "run 'kvcli service list' to see the services"
AUTOCLONE_HINT = "the version is active or locked; edit a clone of it"


def _context(
    hint_404: str = SERVICE_HINT, reason_404: str | None = None, facts: dict[str, Any] | None = None
) -> ErrorContext:
    return ErrorContext(
        hints={
            404: hint_404,
            409: "names must be unique (within a version, for resource links)",
            422: AUTOCLONE_HINT,
        },
        reasons={422: "version_locked_answer", **({404: reason_404} if reason_404 else {})},
        facts=facts or {},
    )


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"the Fastly API answered with an invalid {what}: {value!r}") from None


def parse_version(obj: Any, service_id: str | None = None) -> Version:
    if not isinstance(obj, dict) or "number" not in obj:
        raise ApiError("the Fastly API answered with something that is not a service version")
    return Version(
        service_id=str(obj.get("service_id") or service_id or ""),
        number=_int(obj["number"], "version number"),
        active=_bool(obj.get("active")),
        locked=_bool(obj.get("locked")),
        comment=str(obj.get("comment") or ""),
        created_at=parse_timestamp(obj.get("created_at")),
        updated_at=parse_timestamp(obj.get("updated_at")),
        staging=_bool(obj.get("staging")),
    )


def parse_service(obj: Any) -> Service:
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ApiError("the Fastly API answered with something that is not a service")
    versions = obj.get("versions")
    if not isinstance(versions, list):
        versions = []
    return Service(
        id=obj["id"],
        name=str(obj.get("name") or ""),
        type=str(obj.get("type") or ""),
        comment=str(obj.get("comment") or ""),
        created_at=parse_timestamp(obj.get("created_at")),
        updated_at=parse_timestamp(obj.get("updated_at")),
        versions=tuple(sorted((parse_version(v, obj["id"]) for v in versions), key=lambda v: v.number)),
    )


def parse_link(obj: Any) -> ResourceLink:
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ApiError("the Fastly API answered with something that is not a resource link")
    return ResourceLink(
        id=obj["id"],
        name=str(obj.get("name") or ""),
        resource_id=str(obj.get("resource_id") or ""),
        service_id=str(obj.get("service_id") or ""),
        version=_int(obj.get("version"), "link version"),
        resource_type=str(obj.get("resource_type") or RESOURCE_TYPE_KV),  # "object-store" (legacy) is kept as is
        created_at=parse_timestamp(obj.get("created_at")),
        updated_at=parse_timestamp(obj.get("updated_at")),
        deleted_at=parse_timestamp(obj.get("deleted_at")),
        href=obj.get("href"),
    )


def _array(doc: Any, what: str) -> list:
    if not isinstance(doc, list):
        raise ApiError(f"the Fastly API answered a {what} listing with something that is not a JSON array")
    return doc


class ServicesHttpMixin:
    """Every ``/service`` endpoint kvcli needs (the :class:`kvcli.api.port.ServicesApi` protocol)."""

    if TYPE_CHECKING:  # provided by FastlyHttp

        def _request(self, method: str, segments: Iterable[str], **kwargs: Any) -> httpx.Response: ...
        def decode_json(self, response: httpx.Response) -> Any: ...

    def _svc(
        self,
        method: str,
        segments: Iterable[str],
        *,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str | None] | None = None,
        retry_safe: bool | None = None,
        context: ErrorContext | None = None,
    ) -> httpx.Response:
        try:
            return self._request(
                method,
                (SERVICE, *segments),
                form=form,
                params=params,
                retry_safe=retry_safe,
                context=context or _context(),
                # go-fastly sends an empty form on body-less PUTs (Content-Length: 0); so does this client
                content=b"" if form is None and method in ("PUT", "POST") else None,
            )
        except InvalidInput as exc:
            if exc.status == 422 and type(exc) is InvalidInput and exc.title in (MSG_VERSION_LOCKED, ""):
                raise VersionLocked(
                    exc.message, exc.hint, status=422, title=exc.title, detail=exc.detail, request=exc.request,
                    reason=exc.reason, facts=exc.facts,
                ) from None
            raise

    def _svc_json(self, method: str, segments: Iterable[str], **kwargs: Any) -> Any:
        return self.decode_json(self._svc(method, segments, **kwargs))

    # ------------------------------------------------------------------------------------------------ services
    def create_service(self, name: str, type: str = "wasm", comment: str = "") -> Service:
        fields = {"name": name, "type": type}
        if comment:
            fields["comment"] = comment
        return parse_service(self._svc_json("POST", (), form=fields, retry_safe=False))

    def list_services(self) -> list[Service]:
        """Every service, following the ``Link: rel="next"`` pages."""
        out: list[Service] = []
        page = 1
        while page <= MAX_PAGES:
            resp = self._svc("GET", (), params={Q_PAGE: str(page), Q_PER_PAGE: str(PER_PAGE)})
            items = _array(self.decode_json(resp), "service")
            out.extend(parse_service(s) for s in items)
            if "next" not in resp.links or not items:
                break
            page += 1
        return out

    def get_service(self, service_id: str) -> Service:
        return parse_service(self._svc_json("GET", (service_id,)))

    def find_service(self, name: str) -> Service:
        try:
            return parse_service(self._svc_json("GET", (SEARCH_SEGMENT,), params={"name": name}))
        except NotFound as exc:
            raise NotFound(
                f"no service named {name!r}", SERVICE_HINT, title=exc.title, detail=exc.detail, request=exc.request
            ) from None

    def update_service(self, service_id: str, name: str | None = None, comment: str | None = None) -> Service:
        fields = {k: v for k, v in (("name", name), ("comment", comment)) if v is not None}
        if not fields:
            raise InvalidInput("nothing to update", "give a new name, a new comment, or both",
                               reason="service_update_empty")
        return parse_service(self._svc_json("PUT", (service_id,), form=fields, retry_safe=True))

    def delete_service(self, service_id: str) -> None:
        self._svc("DELETE", (service_id,))

    # ------------------------------------------------------------------------------------------------ versions
    def list_versions(self, service_id: str) -> list[Version]:
        items = _array(self._svc_json("GET", (service_id, VERSION_SEGMENT)), "version")
        return sorted((parse_version(v, service_id) for v in items), key=lambda v: v.number)

    def get_version(self, service_id: str, number: int) -> Version:
        return parse_version(self._svc_json("GET", (service_id, VERSION_SEGMENT, str(number))), service_id)

    def create_version(self, service_id: str, comment: str = "") -> Version:
        doc = self._svc_json(
            "POST", (service_id, VERSION_SEGMENT), form={"comment": comment} if comment else None, retry_safe=False
        )
        return self.get_version(service_id, parse_version(doc, service_id).number)

    def update_version(self, service_id: str, number: int, comment: str) -> Version:
        doc = self._svc_json(
            "PUT", (service_id, VERSION_SEGMENT, str(number)), form={"comment": comment}, retry_safe=True
        )
        return parse_version(doc, service_id)

    def _version_action(self, service_id: str, number: int, action: str, retry_safe: bool) -> Version:
        doc = self._svc_json("PUT", (service_id, VERSION_SEGMENT, str(number), action), retry_safe=retry_safe)
        return parse_version(doc, service_id)

    def clone_version(self, service_id: str, number: int) -> Version:
        return self._version_action(service_id, number, "clone", retry_safe=False)

    def activate_version(self, service_id: str, number: int) -> Version:
        return self._version_action(service_id, number, "activate", retry_safe=True)

    def deactivate_version(self, service_id: str, number: int) -> Version:
        return self._version_action(service_id, number, "deactivate", retry_safe=False)

    def lock_version(self, service_id: str, number: int) -> Version:
        return self._version_action(service_id, number, "lock", retry_safe=True)

    def _details(self, service_id: str, flag: str) -> dict:
        doc = self._svc_json("GET", (service_id, DETAILS_SEGMENT), params={flag: "true"})
        if not isinstance(doc, dict):
            raise ApiError("the Fastly API answered /details with something that is not a service")
        return doc

    def active_version(self, service_id: str) -> Version | None:
        active = self._details(service_id, Q_FILTER_ACTIVE).get("active_version")
        return parse_version(active, service_id) if active else None

    def staged_version(self, service_id: str) -> Version | None:
        """The ``version`` of ``/details?filter[versions.staged]=true`` (as the official CLI reads it)."""
        staged = self._details(service_id, Q_FILTER_STAGED).get("version")
        return parse_version(staged, service_id) if staged else None

    # ------------------------------------------------------------------------------------------ resource links
    def _links(self, service_id: str, version: int, *rest: str) -> tuple[str, ...]:
        return (service_id, VERSION_SEGMENT, str(version), RESOURCE_SEGMENT, *rest)

    def _link_context(self, service_id: str, version: int) -> ErrorContext:
        return _context("list the version's resource links to see which exist", "link_list_answer",
                        {"service_id": service_id, "version": version})

    def create_link(self, service_id: str, version: int, resource_id: str, name: str | None = None) -> ResourceLink:
        if not resource_id:
            raise InvalidInput("no resource ID given", "give the ID of the KV store to link",
                               reason="link_resource_missing")
        fields = {"resource_id": resource_id}
        if name:
            fields["name"] = name
        doc = self._svc_json(
            "POST",
            self._links(service_id, version),
            form=fields,
            retry_safe=False,
            context=self._link_context(service_id, version),
        )
        return parse_link(doc)

    def list_links(self, service_id: str, version: int) -> list[ResourceLink]:
        doc = self._svc_json("GET", self._links(service_id, version), context=self._link_context(service_id, version))
        return [parse_link(x) for x in _array(doc, "resource link")]

    def get_link(self, service_id: str, version: int, link_id: str) -> ResourceLink:
        doc = self._svc_json(
            "GET", self._links(service_id, version, link_id), context=self._link_context(service_id, version)
        )
        return parse_link(doc)

    def update_link(
        self, service_id: str, version: int, link_id: str, name: str | None = None, resource_id: str | None = None
    ) -> ResourceLink:
        fields = validation.link_update_fields(name, resource_id)
        doc = self._svc_json(
            "PUT",
            self._links(service_id, version, link_id),
            form=fields,
            retry_safe=True,
            context=self._link_context(service_id, version),
        )
        return parse_link(doc)

    def delete_link(self, service_id: str, version: int, link_id: str) -> None:
        doc = self._svc_json(
            "DELETE", self._links(service_id, version, link_id), context=self._link_context(service_id, version)
        )
        if isinstance(doc, dict) and doc.get("status") not in (None, "ok"):
            raise ApiError(f"the Fastly API did not confirm the deletion of resource link {link_id}: {doc!r}")
