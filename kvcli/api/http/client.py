"""The generic half of the HTTP adapter: one session (:mod:`kvcli.api.http.session`) speaking to a Fastly API endpoint.

:class:`FastlyHttp` knows about authentication, URLs, retries, timeouts, debug output and error bodies, but nothing
about KV stores; :class:`kvcli.api.http.HttpAdapter` builds the KV endpoints on :meth:`FastlyHttp._request`, and other
endpoint families (services, versions, resource links) can do the same.

Retry rules (see docs/http.md):

* A request that failed before it was sent (connect error, connect timeout, no free pooled connection) is always
  repeated, within the attempt and time budget.
* A request that failed after it may have reached the server (read/write error, reset, read timeout) or that got 429,
  500, 502, 503 or 504 is repeated only when ``retry_safe``: repeating it cannot change the outcome. By default that
  is GET, HEAD, OPTIONS and DELETE; callers mark idempotent PUTs explicitly and must never mark appends or POSTs that
  create something.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import kvcli.api.http.deadline as limits
from kvcli import __version__
from kvcli.api import errors as E
from kvcli.api.errors import ConfigError, RequestInfo, TransportError
from kvcli.api.http.bodies import one_line
from kvcli.api.http.debug_log import DebugMixin
from kvcli.api.http.decode import decoded_chunks
from kvcli.api.http.endpoints import _check_endpoint, encode_segment  # noqa: F401 - encode_segment re-exported
from kvcli.api.http.failures import (
    EARLIER_ATTEMPT_HINT,
    MAYBE_APPLIED_HINT,
    NO_CONTEXT,
    ErrorContext,
    FailuresMixin,
    _BodyFailure,
    _certificate_refused,
    _join,
    _size,
    request_info,
    tls_setup_error,
)
from kvcli.api.http.retry import (
    DEADLINE_READ_TIMEOUTS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRY_SECONDS,
    DEFAULT_MIN_RATE,
    DEFAULT_READ_TIMEOUT,
    ENV_MAX_RESPONSE_BYTES,
    RETRY_STATUSES,
    VALUE_SLACK_BYTES,
    RetryPolicy,
    server_delay,
    settings_from_env,
)
from kvcli.api.http.session import SendFailure, Timeout
from kvcli.api.wire import CT_JSON, H_KEY, is_loopback_host
from kvcli.redact import redact_url, url_secrets

if TYPE_CHECKING:
    import random

    import httpx

    from kvcli.api.http.session import Session

USER_AGENT = f"kvcli/{__version__}"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class FastlyHttp(FailuresMixin, DebugMixin):
    """A Fastly API client: auth header, retries, timeouts, debug output, errors. Thread-safe.

    It sends through an httpx session (pooled), or with ``light=True`` through the light one (plain sockets, no
    httpx import) where that reproduces httpx exactly: no ``transport``, no ``debug``, no proxy variable in the
    environment (see :func:`kvcli.api.http.light.light_session`)."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        debug: bool = False,
        timeout: float | httpx.Timeout | Timeout | None = None,
        connect_timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_seconds: float | None = None,
        deadline: float | None = None,
        min_rate: float | None = None,
        max_response_bytes: int | None = None,
        max_value_bytes: int | None = None,
        backoff_base: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        debug_stream: IO[str] | None = None,
        env: Mapping[str, str] | None = None,
        light: bool = False,
    ) -> None:
        self.endpoint, self.host = _check_endpoint(endpoint)
        self.token = token or None
        # what messages show of the endpoint (no user:password@), and what they must never show
        self.shown_endpoint = redact_url(self.endpoint)
        self._secrets = tuple(s for s in (self.token, *url_secrets(self.endpoint)) if s)
        if self.token is not None and not all("!" <= ch <= "~" for ch in self.token):
            # refused here, never echoed: httpx's "Illegal header value b'<token>'" would print it
            raise ConfigError(
                "the API token contains a character an HTTP header cannot carry (a space, a line break, a control "
                "or a non-ASCII character)",
                "check the token given, FASTLY_API_TOKEN or the profile: no surrounding whitespace",
                reason="token_unsendable",
            )
        self.debug = debug
        self.description = f"Fastly API at {self.shown_endpoint}"
        overrides = settings_from_env(env)
        attempts = max_attempts if max_attempts is not None else overrides["max_attempts"]
        budget = max_retry_seconds if max_retry_seconds is not None else overrides["max_retry_seconds"]
        if attempts is not None and int(attempts) < 1:
            raise ConfigError(f"max_attempts must be at least 1 (got {attempts})")
        if budget is not None and float(budget) < 0:
            raise ConfigError(f"max_retry_seconds cannot be negative (got {budget})")
        self.retry = RetryPolicy(
            max_attempts=int(attempts) if attempts is not None else DEFAULT_MAX_ATTEMPTS,
            max_retry_seconds=float(budget) if budget is not None else DEFAULT_MAX_RETRY_SECONDS,
            **({"base_delay": float(backoff_base)} if backoff_base is not None else
               {"base_delay": float(overrides["backoff_base"])} if overrides["backoff_base"] is not None else {}),
        )
        if timeout is not None and not isinstance(timeout, int | float):  # an httpx.Timeout, or kvcli's
            self.timeout = Timeout.like(timeout)
        else:
            read = float(timeout) if timeout is not None else overrides["timeout"] or DEFAULT_READ_TIMEOUT
            connect = float(connect_timeout) if connect_timeout is not None else min(DEFAULT_CONNECT_TIMEOUT, read)
            self.timeout = Timeout.of(read, connect)
        # an attempt's time limit: httpx's timeouts are per network read, so a server dripping a byte at a time
        # would never trip them; a value (or an upload) earns one more second per min_rate bytes transferred
        limit = deadline if deadline is not None else overrides["deadline"]
        if limit is None:
            limit = DEADLINE_READ_TIMEOUTS * (self.timeout.read or DEFAULT_READ_TIMEOUT)
        rate = min_rate if min_rate is not None else overrides["min_rate"]
        most = max_response_bytes if max_response_bytes is not None else overrides["max_response_bytes"]
        for name, number in (("deadline", limit), ("min_rate", rate), ("max_response_bytes", most)):
            if number is not None and not number > 0:
                raise ConfigError(f"{name} must be greater than 0 (got {number})")
        self.deadline = float(limit)
        self.min_rate = float(rate) if rate is not None else float(DEFAULT_MIN_RATE)
        self.max_response_bytes = int(most) if most is not None else DEFAULT_MAX_RESPONSE_BYTES
        if max_value_bytes is not None and not max_value_bytes > 0:
            raise ConfigError(f"max_value_bytes must be greater than 0 (got {max_value_bytes})")
        #: the largest value an answer may carry (None: KVCLI_MAX_VALUE_BYTES when the value is read, else 25 MiB)
        self.max_value_bytes = max_value_bytes
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng_given = rng  # the jitter's generator, made at the first retry when not given (see _rng)
        self._debug_stream = debug_stream
        self._debug_lock = threading.Lock()
        try:
            self._session: Session = self._make_session(light and transport is None and not debug, transport)
        except OSError as exc:  # the trust store (SSL_CERT_FILE) or SSLKEYLOGFILE cannot be read, for either session
            raise tls_setup_error(exc) from None

    @property
    def _rng(self) -> random.Random:
        """The retries' jitter generator (importing random costs start-up time, and most commands never retry)."""
        if self._rng_given is None:
            import random

            self._rng_given = random.Random()
        return self._rng_given

    def _make_session(self, light: bool, transport: Any) -> Session:
        if light:
            from kvcli.api.http.light import light_session

            session = light_session(self.endpoint, self.timeout, USER_AGENT)
            if session is not None:
                return session
        from kvcli.api.http.httpx_session import HttpxSession

        # a plain-HTTP endpoint (e.g. kvcli local serve) never uses TLS, as no redirect is followed: loading the
        # CA bundle for it would cost tens of milliseconds per command for nothing
        return HttpxSession(timeout=self.timeout, user_agent=USER_AGENT, transport=transport,
                            verify=self.endpoint.split(":", 1)[0].lower() != "http")  # fmt: skip

    # ----------------------------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- building
    def url(self, segments: Iterable[str]) -> str:
        """The URL of a path given as components; each one is encoded as exactly one segment."""
        encoded = []
        for seg in segments:
            if not isinstance(seg, str) or seg == "":
                raise E.InvalidInput(f"empty path component in a request to {self.shown_endpoint}")
            encoded.append(encode_segment(seg))
        return self.endpoint + "/" + "/".join(encoded)

    def _require_token(self) -> None:
        if self.token is None and not is_loopback_host(self.host):
            raise ConfigError(
                f"no API token for {self.shown_endpoint}",
                "give a token, set FASTLY_API_TOKEN, store one with 'kvcli profile create NAME', or import the "
                "official Fastly CLI's with 'kvcli profile import'; only loopback endpoints such as 'kvcli local "
                "serve' work without one",
                reason="token_missing",
            )

    # ----------------------------------------------------------------------------------------------- requests
    def _request(
        self,
        method: str,
        segments: Iterable[str],
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        accept: str | None = CT_JSON,
        retry_safe: bool | None = None,
        stream: bool = False,
        value_body: bool = False,
        tolerate: Collection[int] = (),
        context: ErrorContext = NO_CONTEXT,
    ) -> Any:
        """Send a request (with retries) and return the 2xx response, or raise the matching KvcliError.

        ``retry_safe`` (default: True for GET/HEAD/OPTIONS/DELETE) says whether repeating the request after it may
        have reached the server is harmless. Statuses in ``tolerate`` are returned instead of raised (never retried).
        With ``stream=True`` a successful response is returned unread; the caller must close it.

        Every body read is bounded (decoded bytes): a successful answer by ``max_response_bytes``, or with
        ``value_body`` (an item's value) by the value limit plus slack; an error answer by ``max_response_bytes``.
        Each attempt must finish within ``deadline`` seconds plus one second per ``min_rate`` bytes uploaded (and,
        with ``value_body``, downloaded).
        """
        method = method.upper()
        self._require_token()
        if retry_safe is None:
            retry_safe = method in SAFE_METHODS
        url = self.url(segments)
        hdrs: dict[str, Any] = {}  # str values, and the bytes of a caller's raw header
        if accept:
            hdrs["Accept"] = accept
        if self.token is not None:
            hdrs[H_KEY] = self.token
        hdrs.update(headers or {})
        query = {k: v for k, v in (params or {}).items() if v is not None}
        started = self._clock()
        attempt = 0
        applied_maybe = False  # an earlier attempt may have reached the server
        while True:
            attempt += 1
            request = self._session.build(
                method, url, params=query or None, json=json, form=form, content=content, headers=hdrs
            )
            info = request_info(request)
            uploaded = int(request.headers.get("content-length") or 0)
            self._debug_request(request, attempt)
            t0 = self._clock()
            budget = limits.Attempt(
                self._clock, t0, self.deadline + uploaded / self.min_rate, 1 / self.min_rate if value_body else 0.0
            )
            limits.begin(budget)  # every socket read and write of this thread now waits at most what is left
            try:
                response = self._session.send(request)
            except SendFailure as exc:
                limits.begin(None)
                sent = not exc.not_sent
                error: E.KvcliError = self._transport_error(exc, info, sent=sent, retry_safe=retry_safe)
                if budget.expired:
                    error = self._deadline_error(info, budget, uploaded, retry_safe=retry_safe)
                self._debug_line(f"! {exc.name}: {one_line(str(exc) or exc.name)}")
                retryable = (exc.not_sent or (retry_safe and exc.maybe_sent)) and not (
                    _certificate_refused(exc)  # a certificate that did not verify will not on a retry
                )
                applied_maybe = applied_maybe or sent
                if not retryable:
                    raise error from None
                self._wait_or_give_up(error, attempt, started, None)
                continue
            success = 200 <= response.status_code < 300
            if stream and success:
                limits.begin(None)  # the caller reads (or closes) the body
                self._debug_response(response, self._clock() - t0, body=None)
                return response
            if not (value_body and success):
                budget.per_byte = 0.0  # an error answer is small whatever the request
            try:
                self._read_body(
                    response, info, budget, uploaded, retry_safe=retry_safe, value_body=value_body and success
                )
            except SendFailure as exc:
                if exc.kind != "DecodingError":
                    error = self._transport_error(exc, info, sent=True, retry_safe=retry_safe)
                    if budget.expired:
                        error = self._deadline_error(info, budget, uploaded, retry_safe=retry_safe)
                    applied_maybe = True
                    if not (retry_safe and exc.maybe_sent):
                        raise error from None
                    self._wait_or_give_up(error, attempt, started, None)
                    continue
                # a corrupt gzip/deflate body: like a truncated one
                self._debug_line(f"! {exc.name}: {one_line(str(exc) or exc.name)}")
                encoding = response.headers.get("content-encoding", "")
                error = self._decoding_error(exc, info, encoding, retry_safe=retry_safe)
                applied_maybe = True
                if not retry_safe:
                    raise error from None
                self._wait_or_give_up(error, attempt, started, None)
                continue
            except _BodyFailure as failure:
                self._debug_line(f"! {failure.error.message}")
                applied_maybe = True
                if not (retry_safe and failure.retryable):
                    raise failure.error from None
                self._wait_or_give_up(failure.error, attempt, started, None)
                continue
            finally:
                response.close()
                limits.begin(None)
            self._debug_response(response, self._clock() - t0, body=response.content)
            if success or response.status_code in tolerate:
                return response
            error = self.error_from_response(response, info, context)
            status = response.status_code
            if status in RETRY_STATUSES and retry_safe:
                applied_maybe = applied_maybe or status != 429
                delay = server_delay(status, response.headers, self._wall_clock())
                self._wait_or_give_up(error, attempt, started, delay)
                continue
            if status in RETRY_STATUSES and status != 429 and not retry_safe:
                error.hint = _join(error.hint, f"this {method} request {MAYBE_APPLIED_HINT}")
            elif applied_maybe and 400 <= status < 500:
                error.hint = _join(error.hint, EARLIER_ATTEMPT_HINT)
            raise error

    def _read_body(
        self,
        response: Any,
        info: RequestInfo,
        budget: limits.Attempt,
        uploaded: int,
        *,
        retry_safe: bool,
        value_body: bool,
    ) -> None:
        """Read the (decoded) body into ``response.content``, or raise _BodyFailure when it is too large or slow."""
        if value_body:
            from kvcli.api.validation import max_value_bytes

            value_limit = self.max_value_bytes if self.max_value_bytes is not None else max_value_bytes()
            limit = value_limit + VALUE_SLACK_BYTES
        else:
            limit = self.max_response_bytes
        chunks: list[bytes] = []
        received = 0
        for chunk in decoded_chunks(response, self._session):  # a gzip bomb counts at its real size, a piece at a time
            received += len(chunk)
            if received > limit:
                if value_body:
                    hint = (
                        f"no value can be larger than KVCLI_MAX_VALUE_BYTES, {_size(value_limit)}; check the "
                        "endpoint, or raise KVCLI_MAX_VALUE_BYTES"
                    )
                    reason, facts = "value_answer_too_large", {"limit": _size(value_limit)}
                else:
                    hint = (
                        "no answer to this request needs that much; check that the endpoint is the Fastly API, or "
                        f"raise {ENV_MAX_RESPONSE_BYTES}, in bytes"
                    )
                    reason, facts = "answer_too_large", {"variable": ENV_MAX_RESPONSE_BYTES}
                error = TransportError(
                    f"the answer to {info} is larger than {_size(limit)} (decoded); kvcli stopped reading it",
                    hint, request=info, reason=reason, facts=facts,
                )
                error.hint = self._maybe_applied(hint, retry_safe)
                raise _BodyFailure(error, retryable=False)
            chunks.append(chunk)
            budget.received = received
            if budget.remaining() < 0:
                raise _BodyFailure(self._deadline_error(info, budget, uploaded, retry_safe=retry_safe), True)
        self._session.set_content(response, b"".join(chunks))

    def _request_json(self, method: str, segments: Iterable[str], **kwargs: Any) -> Any:
        """:meth:`_request` and decode the JSON body (None for an empty body)."""
        return self.decode_json(self._request(method, segments, **kwargs))
