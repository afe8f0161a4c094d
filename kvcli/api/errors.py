"""One exception tree for everything kvcli can report.

::

    KvcliError                  message + optional hint (how to fix it); exit_code for the CLI
    ├── UsageError              bad flags or flag combinations (exit 2)
    ├── ConfigError             unreadable or invalid config, unknown profile (exit 1)
    ├── TransportError          the request never got an answer: refused, reset, timed out (exit 1)
    ├── PartialFailure          a bulk operation finished with some items failed (exit 7)
    ├── Interrupted             Ctrl-C / SIGTERM (exit 130)
    ├── Closed                  a library connection used after close()
    └── ApiError                the backend answered with an error status (status, title, detail)
        ├── InvalidInput        400 / 413 / 422: invalid key, metadata, value, name, location (exit 2)
        │   ├── TooLarge        413: value over the size limit
        │   └── VersionLocked   422 "Version locked": editing an active or locked service version (exit 4)
        ├── AuthError           401 / 403 (exit 5)
        ├── NotFound            404: store, key, service, version or link (exit 3); also a KeyError
        ├── Conflict            409: e.g. deleting a non-empty store (exit 4)
        ├── PreconditionFailed  412: generation mismatch or key exists with add (exit 4)
        ├── RateLimited         429 (exit 6)
        └── ServerError         5xx (exit 1)
            └── StorageError    507: the backend's storage failed: disk full, read-only, I/O error (exit 1)

Errors raised by the HTTP adapter carry the ``request`` (method and URL, never headers) they belong to.

Every class has a ``kind``: a short, stable string (``"not_found"``, ``"precondition_failed"``, …) that is the
library's contract (see docs/library.md); ``exit_code`` is what the CLI exits with and may move to the CLI. The
library (:mod:`kvcli.library`) also records the structured facts of a failure on the error it raises: ``operation``
(e.g. ``"get"``), ``store_id`` and ``key`` (each None when it does not apply). ``NotFound`` is also a ``KeyError``
(so ``store[key]`` behaves like a mapping), with ``str(err)`` the plain message.
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
    exit_code = 1
    #: the structured facts of the failure, filled in by the library where they apply
    operation: str | None = None
    store_id: str | None = None
    key: str | None = None

    def __init__(self, message: str, hint: str | None = None, *, request: RequestInfo | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.request = request

    def __str__(self) -> str:
        return self.message


class UsageError(KvcliError):
    kind = "usage"
    exit_code = 2


class ConfigError(KvcliError):
    kind = "config"
    exit_code = 1


class TransportError(KvcliError):
    kind = "transport"
    exit_code = 1


class PartialFailure(KvcliError):
    kind = "partial_failure"
    exit_code = 7

    def __init__(
        self, message: str, hint: str | None = None, *, summary: dict | None = None, report: object | None = None
    ) -> None:
        super().__init__(message, hint)
        self.summary = summary or {}
        #: the library's report of the operation (ImportReport, ExportReport or DeleteReport), when there is one
        self.report = report


class Interrupted(KvcliError):
    kind = "interrupted"
    exit_code = 130


class Closed(KvcliError):
    """A :class:`kvcli.KV` connection (or a store of it) used after ``close()``."""

    kind = "closed"


class ApiError(KvcliError):
    kind = "api_error"
    status: int = 0
    exit_code = 1

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
    ) -> None:
        super().__init__(message, hint, request=request)
        if status is not None:
            self.status = status
        self.title = title
        self.detail = detail
        self.retry_after = retry_after


class InvalidInput(ApiError):
    kind = "invalid_input"
    status = 400
    exit_code = 2


class TooLarge(InvalidInput):
    kind = "too_large"
    status = 413


class VersionLocked(InvalidInput):
    """The service version is active or locked, so its configuration (e.g. resource links) cannot change.

    Exit code 4 like the other state conflicts: the input is fine, the version's state is not.
    """

    kind = "version_locked"
    status = 422
    exit_code = 4


class AuthError(ApiError):
    kind = "auth"
    status = 401
    exit_code = 5


class NotFound(ApiError, KeyError):
    kind = "not_found"
    status = 404
    exit_code = 3


class Conflict(ApiError):
    kind = "conflict"
    status = 409
    exit_code = 4


class PreconditionFailed(ApiError):
    kind = "precondition_failed"
    status = 412
    exit_code = 4


class RateLimited(ApiError):
    kind = "rate_limited"
    status = 429
    exit_code = 6


class ServerError(ApiError):
    kind = "server_error"
    status = 500
    exit_code = 1


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


def exit_code_for(exc: BaseException) -> int:
    """The one place that maps errors to process exit codes (documented in README)."""
    if isinstance(exc, KvcliError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1
