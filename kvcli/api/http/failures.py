"""How the HTTP client words a failure: the hints, the error for a response or a transport failure, giving up.

Mixed into :class:`kvcli.api.http.client.FastlyHttp`; nothing here sends a request.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import kvcli.api.http.deadline as limits
from kvcli.api import errors as E
from kvcli.api.errors import ApiError, KvcliError, RequestInfo, TransportError, error_for_status
from kvcli.api.http.bodies import build_message, one_line, parse_error_body
from kvcli.api.http.retry import (
    ENV_DEADLINE,
    ENV_MAX_ATTEMPTS,
    ENV_MAX_RETRY_SECONDS,
    ENV_MIN_RATE,
    ENV_TIMEOUT,
    RETRY_STATUSES,
    RetryPolicy,
    server_delay,
)
from kvcli.api.http.session import SendFailure, Timeout
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time
from kvcli.redact import redact, redact_url

if TYPE_CHECKING:
    import random


def _certificate_refused(exc: BaseException) -> bool:
    """The connection failed because the server's TLS certificate did not verify (its cause chain holds the ssl
    error): not a transient failure."""
    import sys

    ssl = sys.modules.get("ssl")
    if ssl is None:  # no TLS was attempted (a plain-HTTP endpoint on the light session): no certificate either
        return False
    seen: BaseException | None = exc
    for _ in range(8):  # httpx error <- httpcore error <- ssl error
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


AUTH_HINT = (
    "check the API token: the token given, FASTLY_API_TOKEN, or one stored with 'kvcli profile create'; "
    "'kvcli profile list' shows the stored ones"
)
FORBIDDEN_HINT = (
    "the token is valid but may lack permission for this, as KV stores need at least Engineer permissions; "
    "check which token is used with 'kvcli profile list'"
)
RATE_HINT = (
    "the API rate limit was reached; wait and try again, or tune the automatic retries with "
    f"{ENV_MAX_ATTEMPTS} and {ENV_MAX_RETRY_SECONDS}"
)
SERVER_HINT = "the API had a problem; try again later, and see Fastly's status page: https://www.fastlystatus.com"
MAYBE_APPLIED_HINT = "it may or may not have been applied, and was not repeated automatically; check before rerunning"
EARLIER_ATTEMPT_HINT = "an earlier attempt of this request failed and may already have been applied"
UNREACHABLE_HINT = "is the server running? check the endpoint given, or the profile's, and your network"
MIB = 1024 * 1024


class _BodyFailure(Exception):
    """Reading a response body was given up (too large, too slow); ``error`` is what to report."""

    def __init__(self, error: TransportError, retryable: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable


def request_info(request: Any) -> RequestInfo:
    """What an error says about its request: method and URL, without credentials the URL may carry."""
    return RequestInfo(request.method, redact_url(str(request.url)))

def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n:,} bytes"


def _secs(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ErrorContext:
    """What a caller knows about an endpoint's errors.

    ``explain`` gives a title for statuses whose body is empty or says nothing (e.g. 412 on a KV item), ``hints`` the
    fix to suggest for a status (e.g. 404 on a store → "run 'kvcli kv-store list'").
    """

    explain: Mapping[int, str] = field(default_factory=dict)
    hints: Mapping[int, str] = field(default_factory=dict)
    #: the ``reason`` of the error for a status, when the CLI words its hint its own way (kvcli.cli.hints)
    reasons: Mapping[int, str] = field(default_factory=dict)
    #: the ``facts`` those errors carry (what the CLI's wording fills in)
    facts: Mapping[str, Any] = field(default_factory=dict)


NO_CONTEXT = ErrorContext()


class FailuresMixin:
    """The errors of :class:`~kvcli.api.http.client.FastlyHttp`. Needs its endpoint, secrets, limits, clocks and
    ``_debug_line``."""

    if TYPE_CHECKING:  # provided by FastlyHttp

        shown_endpoint: str
        _secrets: tuple[str, ...]
        deadline: float
        min_rate: float
        timeout: Timeout
        retry: RetryPolicy
        _sleep: Callable[[float], None]
        _clock: Callable[[], float]
        _wall_clock: Callable[[], float]

        @property
        def _rng(self) -> random.Random: ...

        def _debug_line(self, line: str) -> None: ...

    def _deadline_error(
        self, info: RequestInfo, budget: limits.Attempt, uploaded: int, *, retry_safe: bool
    ) -> TransportError:
        grows = uploaded or budget.per_byte
        scaled = ""
        if grows:
            scaled = f" ({_secs(self.deadline)} s plus 1 s per {self.min_rate:,.0f} bytes " + (
                "sent or received)" if budget.per_byte else "sent)"
            )
        return TransportError(
            f"{self.shown_endpoint} did not finish answering {info.method} within {_secs(budget.allowed)} s{scaled}; "
            f"{budget.received:,} bytes of the answer had arrived",
            self._maybe_applied(
                "the transfer stalled or was too slow; try again, or raise "
                f"{ENV_DEADLINE}, now {_secs(self.deadline)} seconds, or lower {ENV_MIN_RATE}, "
                f"now {self.min_rate:.0f} bytes per second",
                retry_safe,
            ),
            request=info,
        )

    @staticmethod
    def _maybe_applied(hint: str, retry_safe: bool) -> str:
        return hint if retry_safe else _join(hint, f"the request {MAYBE_APPLIED_HINT}")

    def _decoding_error(
        self, exc: SendFailure, info: RequestInfo, encoding: str, *, retry_safe: bool
    ) -> TransportError:
        what = one_line(redact(str(exc) or type(exc).__name__, self._secrets), 200)
        hint = ("the body arrived corrupt, e.g. as a broken gzip stream; try again, and check the endpoint and any "
                "proxy in between")
        error = TransportError(
            f"the answer from {self.shown_endpoint} to {info.method} could not be decoded "
            f"(Content-Encoding {one_line(encoding, 40) or 'none'}: {what})",
            hint, request=info, reason="body_corrupt",
        )
        error.hint = self._maybe_applied(hint, retry_safe)
        return error

    def decode_json(self, response: Any) -> Any:
        body = response.content
        if not body.strip():
            return None
        try:
            return jsonlib.loads(body)
        except ValueError:
            info = request_info(response.request)
            preview = one_line(redact(body[:200].decode("utf-8", "replace"), self._secrets))
            raise ApiError(
                f"the Fastly API answered {info} with a body that is not JSON: {preview}",
                "check that the endpoint is the Fastly API",
                status=response.status_code,
                request=info,
                reason="not_json",
            ) from None

    # ------------------------------------------------------------------------------------------------- retries
    def _wait_or_give_up(
        self,
        error: KvcliError,
        attempt: int,
        started: float,
        asked: float | None,
    ) -> None:
        """Sleep before the next attempt, or raise ``error`` (saying how long we tried) when the budget is spent."""
        policy = self.retry
        elapsed = self._clock() - started
        remaining = policy.max_retry_seconds - elapsed
        reason = None
        if attempt >= policy.max_attempts:
            reason = "attempts"
        elif asked is not None and asked > remaining:
            reason = "asked"
        elif remaining <= 0:
            reason = "time"
        if reason is not None:
            if attempt > 1:
                error.message += f" (gave up after {attempt} attempts over {elapsed:.1f} s)"
            if reason == "asked":
                error.message += (
                    f" (not retried: the server asked to wait {asked:.0f} s, longer than the "
                    + (f"{policy.max_retry_seconds:g} s retry budget)" if attempt == 1 else
                       f"{max(0.0, remaining):.1f} s left of the {policy.max_retry_seconds:g} s retry budget)")
                )
            if isinstance(error, E.RateLimited | E.ServerError | TransportError):
                error.hint = _join(
                    error.hint,
                    f"retry limits: {ENV_MAX_ATTEMPTS}={policy.max_attempts}, "
                    f"{ENV_MAX_RETRY_SECONDS}={policy.max_retry_seconds:g}",
                )
            raise error from None
        if asked is not None:
            delay = min(asked + self._rng.uniform(0.0, policy.base_delay), remaining)
        else:
            delay = min(policy.backoff(attempt, self._rng), remaining)
        self._debug_line(f"! retrying in {delay:.2f} s (attempt {attempt + 1} of {policy.max_attempts})")
        self._sleep(delay)

    # -------------------------------------------------------------------------------------------------- errors
    def error_from_response(
        self, response: Any, info: RequestInfo | None = None, context: ErrorContext = NO_CONTEXT
    ) -> ApiError:
        """The ApiError subclass for a non-2xx response, with a one-line message and a hint."""
        status = response.status_code
        if info is None:
            info = request_info(response.request)
        body = parse_error_body(response.headers.get("content-type", ""), response.content)
        # a server may echo the request (its headers, the token) in an error body
        body.title, body.detail = redact(body.title, self._secrets), redact(body.detail, self._secrets)
        # The error keeps the body's title and detail (the title falling back to what the call knows); the message
        # is arranged so that it says something beyond the status line.
        title, detail = body.title, body.detail
        explain = context.explain.get(status)
        shown_title, shown_detail = title, detail
        if title.lower() in ("", (response.reason_phrase or "").lower()):  # the title only repeats the status
            if detail:
                shown_title, shown_detail = detail, ""  # {"msg": "Conflict", "detail": "KV store 'x' is not empty"}
            elif explain:
                title = shown_title = explain  # an empty body, e.g. every KV 412
        elif title == "Undefined error" and explain:
            title = shown_title = explain  # keep the unparseable text as the detail
        cls = error_for_status(status)
        hint = context.hints.get(status) or _default_hint(status)
        reason = context.reasons.get(status) or ("auth_refused" if status == 401 and hint == AUTH_HINT else None)
        retry_after = server_delay(status, response.headers, self._wall_clock()) if status in RETRY_STATUSES else None
        message = build_message(status, response.reason_phrase, shown_title, shown_detail)
        return cls(message, hint, status=status, title=title, detail=detail, request=info, retry_after=retry_after,
                   reason=reason, facts=dict(context.facts) if reason else None)

    def _transport_error(self, exc: SendFailure, info: RequestInfo, *, sent: bool, retry_safe: bool) -> TransportError:
        what = one_line(redact(str(exc) or type(exc).__name__, self._secrets), 200)
        hint = UNREACHABLE_HINT
        if _certificate_refused(exc):
            msg = f"the certificate of {self.shown_endpoint} is not trusted: {what}"
            hint = "check the endpoint; for a server of your own, point SSL_CERT_FILE at the certificate it uses"
        elif exc.kind == "ConnectTimeout":
            msg = f"connecting to {self.shown_endpoint} timed out after {self.timeout.connect:g} s"
        elif exc.kind == "ConnectError":
            msg = f"cannot connect to {self.shown_endpoint}: {what}"
        elif exc.kind == "PoolTimeout":
            msg = f"no free connection to {self.shown_endpoint} within {self.timeout.pool:g} s"
            hint = "too many requests in parallel; lower the concurrency"
        elif exc.kind == "ReadTimeout":
            msg = f"{self.shown_endpoint} did not answer {info.method} within {self.timeout.read:g} s"
            hint = f"raise {ENV_TIMEOUT}, in seconds, or try again"
        elif exc.kind == "WriteTimeout":
            msg = f"sending {info.method} to {self.shown_endpoint} timed out after {self.timeout.write:g} s"
            hint = f"raise {ENV_TIMEOUT}, in seconds, or check your network"
        elif exc.kind == "LocalProtocolError":
            msg = f"kvcli could not send {info.method} {info.url}: {what}"
            hint = "this is a bug in kvcli or a value that cannot travel over HTTP; please report it"
        elif exc.kind == "UnsupportedProtocol":
            msg = f"unsupported endpoint URL {self.shown_endpoint}: {what}"
            hint = "use an http:// or https:// endpoint"
        else:
            msg = f"the connection to {self.shown_endpoint} failed during {info.method}: {what}"
        error = TransportError(msg, hint, request=info, reason="unreachable" if hint == UNREACHABLE_HINT else None)
        if sent and not retry_safe:
            error.hint = _join(hint, f"the request {MAYBE_APPLIED_HINT}")
        return error


def _default_hint(status: int) -> str | None:
    if status == 401:
        return AUTH_HINT
    if status == 403:
        return FORBIDDEN_HINT
    if status == 429:
        return RATE_HINT
    if status == 507:  # kvcli local serve: its disk is full, its database read-only, or an I/O error
        return "the server cannot write its storage (see the message); fix that on the server, then retry"
    if status >= 500:
        return SERVER_HINT
    return None


def _join(hint: str | None, more: str) -> str:
    return f"{hint}; {more}" if hint else more


def tls_setup_error(exc: OSError) -> E.KvcliError | OSError:
    """What to raise when a session could not build its TLS context: the variable to fix named, for SSL_CERT_FILE
    (a missing file, a directory, no certificates in it) and SSLKEYLOGFILE (a file that cannot be created); any
    other OSError as it is."""
    import os

    reason = exc.strerror or str(exc)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and exc.filename == keylog:
        return E.ConfigError(f"cannot open SSLKEYLOGFILE={keylog}: {reason}",
                             "point SSLKEYLOGFILE at a file in a writable directory, or unset it",
                             reason="tls_keylog_unwritable")  # fmt: skip
    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile:
        return E.ConfigError(f"cannot load the CA certificates in SSL_CERT_FILE={cafile}: {reason}",
                             "point SSL_CERT_FILE at a readable PEM file of CA certificates, or unset it to trust "
                             "certifi's bundle", reason="tls_trust_unreadable")  # fmt: skip
    return exc
