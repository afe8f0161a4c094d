"""One exception tree for everything kvcli can report; each class has a ``kind``.

::

    KvcliError                  kind "error": message + optional hint (how to fix it)
    ├── UsageError              "usage": bad arguments or combinations
    ├── ConfigError             "config": unreadable or invalid config, unknown profile
    ├── TransportError          "transport": the request never got an answer: refused, reset, timed out
    ├── PartialFailure          "partial_failure": a bulk operation finished with some items failed
    ├── Interrupted             "interrupted": Ctrl-C / SIGTERM
    ├── Closed                  "closed": a library connection used after close()
    └── ApiError                "api_error": the backend answered with an error status (status, title, detail)
        ├── InvalidInput        "invalid_input": 400 / 413 / 422: invalid key, metadata, value, name, location
        │   ├── TooLarge        "too_large": 413: value over the size limit
        │   └── VersionLocked   "version_locked": 422: editing an active or locked service version
        ├── AuthError           "auth": 401 / 403
        ├── NotFound            "not_found": 404: store, key, service, version or link; also a KeyError
        ├── Conflict            "conflict": 409: e.g. deleting a non-empty store
        ├── PreconditionFailed  "precondition_failed": 412: generation mismatch or key exists with add
        ├── RateLimited         "rate_limited": 429
        └── ServerError         "server_error": 5xx
            └── StorageError    "storage": 507: the backend's storage failed: disk full, read-only, I/O error

Errors raised by the HTTP adapter carry the ``request`` (method and URL, never headers) they belong to.

The ``kind`` is a short, stable string: the library's contract (see docs/library.md). Errors know nothing of exit
codes: the CLI maps kinds to them in one place, :mod:`kvcli.cli.exits`. The library (:mod:`kvcli.library`) also
records the structured facts of a failure on the error it raises: ``operation`` (e.g. ``"get"``), ``store_id`` and
``key`` (each None when it does not apply). ``NotFound`` is also a ``KeyError`` (so ``store[key]`` behaves like a
mapping), with ``str(err)`` the plain message.

Messages and hints name no CLI flag: an error whose fix a CLI user makes with a flag carries a ``reason`` (a short
stable code such as ``"key_exists"``) and its ``facts`` (a dict), from which the CLI writes its own hint
(:mod:`kvcli.cli.hints`). ``base_hint`` is the hint the error was made with, before an adapter added to it.
"""

from __future__ import annotations

from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time


@dataclass(frozen=True)
class RequestInfo:
    """What request an error belongs to (no headers, so never a token)."""

    method: str
    url: str

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class KvcliError(Exception):
    #: a short stable name of the kind of failure, for programs (the library's contract; exit codes are the CLI's)
    kind = "error"
    #: the structured facts of the failure, filled in by the library where they apply
    operation: str | None = None
    store_id: str | None = None
    key: str | None = None

    #: a short stable code of the cause, when the CLI words it its own way (see :mod:`kvcli.cli.hints`)
    reason: str | None = None

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        request: RequestInfo | None = None,
        reason: str | None = None,
        facts: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: the message and hint as the error was made, before a caller added to them (kvcli.cli.hints keeps those
        #: additions when it words the error for the CLI)
        self.base_message = message
        self.base_hint = hint
        self.request = request
        if reason is not None:
            self.reason = reason
        #: what the cause is about (e.g. the field or value), for wording the error elsewhere
        self.facts: dict = facts or {}

    def __str__(self) -> str:
        return self.message


class UsageError(KvcliError):
    kind = "usage"


class ConfigError(KvcliError):
    kind = "config"


class TransportError(KvcliError):
    kind = "transport"


class PartialFailure(KvcliError):
    kind = "partial_failure"

    def __init__(
        self, message: str, hint: str | None = None, *, summary: dict | None = None, report: object | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, hint, reason=reason)
        self.summary = summary or {}
        #: the library's report of the operation (ImportReport, ExportReport or DeleteReport), when there is one
        self.report = report


class Interrupted(KvcliError):
    kind = "interrupted"


class Closed(KvcliError):
    """A :class:`kvcli.KV` connection (or a store of it) used after ``close()``."""

    kind = "closed"


class ApiError(KvcliError):
    kind = "api_error"
    status: int = 0

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        title: str = "",
        detail: str = "",
        request: RequestInfo | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
        facts: dict | None = None,
    ) -> None:
        super().__init__(message, hint, request=request, reason=reason, facts=facts)
        if status is not None:
            self.status = status
        self.title = title
        self.detail = detail
        self.retry_after = retry_after


class InvalidInput(ApiError):
    kind = "invalid_input"
    status = 400


class TooLarge(InvalidInput):
    kind = "too_large"
    status = 413


class VersionLocked(InvalidInput):
    """The service version is active or locked, so its configuration (e.g. resource links) cannot change.

    Exit code 4 like the other state conflicts: the input is fine, the version's state is not.
    """

    kind = "version_locked"
    status = 422


class AuthError(ApiError):
    kind = "auth"
    status = 401


class NotFound(ApiError, KeyError):
    kind = "not_found"
    status = 404


class Conflict(ApiError):
    kind = "conflict"
    status = 409


class PreconditionFailed(ApiError):
    kind = "precondition_failed"
    status = 412


class RateLimited(ApiError):
    kind = "rate_limited"
    status = 429


class ServerError(ApiError):
    kind = "server_error"
    status = 500


class StorageError(ServerError):
    """The backend could not read or write its storage: the disk is full, the database is read-only, or an I/O error.

    ``storage`` says which: ``"full"``, ``"read-only"`` or ``"io"`` (``kind``, the library's stable name, is
    ``"storage"``). Not transient: repeating the request cannot help until someone frees space or fixes permissions,
    so it is never retried (``kvcli local serve`` answers 507).
    """

    kind = "storage"
    status = 507

    def __init__(self, message: str, hint: str | None = None, *, storage: str = "io", **kwargs) -> None:
        super().__init__(message, hint, **kwargs)
        self.storage = storage


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: TooLarge,
    422: InvalidInput,
    429: RateLimited,
    507: StorageError,
}


def error_for_status(status: int) -> type[ApiError]:
    """The error class for an HTTP status (5xx → ServerError, other unknowns → ApiError)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return ApiError


def add_facts(exc: KvcliError, operation: str, store_id: str | None = None, key: str | None = None) -> KvcliError:
    """``exc`` with the library's structured facts (operation, store, key) filled in where it does not carry them."""
    if exc.operation is None:
        exc.operation = operation
    if exc.store_id is None and store_id is not None:
        exc.store_id = store_id
    if exc.key is None and key is not None:
        exc.key = key
    return exc
