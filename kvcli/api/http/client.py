"""The generic half of the HTTP adapter: one ``httpx.Client`` speaking to a Fastly API endpoint.

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

import json as jsonlib
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote, urlsplit

import httpx

from kvcli import __version__
from kvcli.api import errors as E
from kvcli.api.errors import ApiError, ConfigError, KvcliError, RequestInfo, TransportError, error_for_status
from kvcli.api.http import deadline as limits
from kvcli.api.http.bodies import build_message, one_line, parse_error_body
from kvcli.api.http.retry import (
    DEADLINE_READ_TIMEOUTS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRY_SECONDS,
    DEFAULT_MIN_RATE,
    DEFAULT_READ_TIMEOUT,
    ENV_DEADLINE,
    ENV_MAX_ATTEMPTS,
    ENV_MAX_RESPONSE_BYTES,
    ENV_MAX_RETRY_SECONDS,
    ENV_MIN_RATE,
    ENV_TIMEOUT,
    RETRY_STATUSES,
    VALUE_SLACK_BYTES,
    RetryPolicy,
    server_delay,
    settings_from_env,
)
from kvcli.api.wire import CT_JSON, H_KEY, is_loopback_host
from kvcli.redact import REDACTED, redact, redact_url, safe, url_secrets

USER_AGENT = f"kvcli/{__version__}"
SECRET_HEADERS = frozenset({H_KEY.lower(), "authorization", "proxy-authorization", "cookie", "set-cookie"})
DEBUG_BODY_CHARS = 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

# failures before the request left this machine: repeating them is always harmless
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _certificate_refused(exc: BaseException) -> bool:
    """The connection failed because the server's TLS certificate did not verify (its cause chain holds the ssl
    error): not a transient failure."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(8):  # httpx error <- httpcore error <- ssl error
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
# failures after the request may have reached the server
_MAYBE_SENT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.WriteTimeout)

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


def request_info(request: httpx.Request) -> RequestInfo:
    """What an error says about its request: method and URL, without credentials the URL may carry."""
    return RequestInfo(request.method, redact_url(str(request.url)))


DECODE_PIECE = 256 * 1024  # the most a compressed body may expand into at once


def decoded_chunks(response: httpx.Response, piece: int = DECODE_PIECE) -> Iterator[bytes]:
    """The body of a streamed response, decoded, in pieces of at most ``piece`` bytes for gzip and deflate.

    httpx decodes each network read whole, so 64 KiB of a gzip bomb become 64 MiB in one step; this decodes with a
    bound on each step instead. Other encodings (br, zstd, several at once) are left to httpx.
    """
    if hasattr(response, "_content"):  # already read (e.g. built with content= by a test transport)
        yield response.content
        return
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw()
        return
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped, as the RFC says; raw deflate is tried when that fails at once
    else:
        yield from response.iter_bytes()
        return
    decoder = zlib.decompressobj(wbits)
    started = False
    for raw in response.iter_raw():
        data = raw
        while data and not decoder.eof:
            try:
                out = decoder.decompress(data, piece)
            except zlib.error as exc:
                if encoding == "deflate" and not started:
                    decoder, started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise httpx.DecodingError(str(exc), request=response.request) from None
            started = True
            data = decoder.unconsumed_tail
            if out:
                yield out
            while not data and len(out) == piece and not decoder.eof:  # output still pending inside zlib
                out = decoder.decompress(b"", piece)
                if out:
                    yield out
    try:
        rest = decoder.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from None
    if rest:
        yield rest


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


NO_CONTEXT = ErrorContext()


def encode_segment(segment: str) -> str:
    """One path component, percent-encoded as a single segment (``/`` → ``%2F``; ``.``/``..`` kept as ``%2E``)."""
    if segment in (".", ".."):
        return segment.replace(".", "%2E")  # otherwise URL normalisation would remove them
    return quote(segment, safe="")


def _check_endpoint(endpoint: str) -> tuple[str, str]:
    """(endpoint without trailing slash, host) or ConfigError."""
    text = (endpoint or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"invalid API endpoint {endpoint!r}",
            "use a URL such as https://api.fastly.com or http://127.0.0.1:7676 as the endpoint, FASTLY_API_ENDPOINT "
            "or the profile's endpoint",
            reason="endpoint_invalid",
        )
    return text.rstrip("/"), parts.hostname


class FastlyHttp:
    """A Fastly API client: auth header, retries, timeouts, debug output, errors. Thread-safe (one pooled client)."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        debug: bool = False,
        timeout: float | httpx.Timeout | None = None,
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
        if isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        else:
            read = float(timeout) if timeout is not None else overrides["timeout"] or DEFAULT_READ_TIMEOUT
            connect = float(connect_timeout) if connect_timeout is not None else min(DEFAULT_CONNECT_TIMEOUT, read)
            self.timeout = httpx.Timeout(read, connect=connect)
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
        self._rng = rng or random.Random()
        self._debug_stream = debug_stream
        self._debug_lock = threading.Lock()
        self._client = httpx.Client(
            transport=transport,
            timeout=self.timeout,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect must never carry Fastly-Key to another host
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            # a plain-HTTP endpoint (e.g. kvcli local serve) never uses TLS, as no redirect is followed: loading the CA
            # bundle for it would cost tens of milliseconds per command for nothing
            verify=self.endpoint.split(":", 1)[0].lower() != "http",
        )
        if transport is None:
            limits.install(self._client)  # the attempt's time limit on every socket operation

    # ----------------------------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self._client.close()

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
    ) -> httpx.Response:
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
            request = self._client.build_request(
                method, url, params=query or None, json=json, data=form, content=content, headers=hdrs
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
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                limits.begin(None)
                sent = not isinstance(exc, _NOT_SENT)
                error = self._transport_error(exc, info, sent=sent, retry_safe=retry_safe)
                if budget.expired:
                    error = self._deadline_error(info, budget, uploaded, retry_safe=retry_safe)
                self._debug_line(f"! {type(exc).__name__}: {one_line(str(exc) or type(exc).__name__)}")
                retryable = (isinstance(exc, _NOT_SENT) or (retry_safe and isinstance(exc, _MAYBE_SENT))) and not (
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
            except httpx.TransportError as exc:
                error = self._transport_error(exc, info, sent=True, retry_safe=retry_safe)
                if budget.expired:
                    error = self._deadline_error(info, budget, uploaded, retry_safe=retry_safe)
                applied_maybe = True
                if not (retry_safe and isinstance(exc, _MAYBE_SENT)):
                    raise error from None
                self._wait_or_give_up(error, attempt, started, None)
                continue
            except httpx.DecodingError as exc:  # a corrupt gzip/deflate body: like a truncated one
                self._debug_line(f"! {type(exc).__name__}: {one_line(str(exc) or type(exc).__name__)}")
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
        response: httpx.Response,
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
        for chunk in decoded_chunks(response):  # a gzip bomb counts at its real size, a piece at a time
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
        response._content = b"".join(chunks)  # what response.read() would have stored

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
        self, exc: httpx.DecodingError, info: RequestInfo, encoding: str, *, retry_safe: bool
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

    def _request_json(self, method: str, segments: Iterable[str], **kwargs: Any) -> Any:
        """:meth:`_request` and decode the JSON body (None for an empty body)."""
        return self.decode_json(self._request(method, segments, **kwargs))

    def decode_json(self, response: httpx.Response) -> Any:
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
        self, response: httpx.Response, info: RequestInfo | None = None, context: ErrorContext = NO_CONTEXT
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
                   reason=reason)

    def _transport_error(self, exc: httpx.TransportError, info: RequestInfo, *, sent: bool, retry_safe: bool):
        what = one_line(redact(str(exc) or type(exc).__name__, self._secrets), 200)
        hint = UNREACHABLE_HINT
        if _certificate_refused(exc):
            msg = f"the certificate of {self.shown_endpoint} is not trusted: {what}"
            hint = "check the endpoint; for a server of your own, point SSL_CERT_FILE at the certificate it uses"
        elif isinstance(exc, httpx.ConnectTimeout):
            msg = f"connecting to {self.shown_endpoint} timed out after {self.timeout.connect:g} s"
        elif isinstance(exc, httpx.ConnectError):
            msg = f"cannot connect to {self.shown_endpoint}: {what}"
        elif isinstance(exc, httpx.PoolTimeout):
            msg = f"no free connection to {self.shown_endpoint} within {self.timeout.pool:g} s"
            hint = "too many requests in parallel; lower the concurrency"
        elif isinstance(exc, httpx.ReadTimeout):
            msg = f"{self.shown_endpoint} did not answer {info.method} within {self.timeout.read:g} s"
            hint = f"raise {ENV_TIMEOUT}, in seconds, or try again"
        elif isinstance(exc, httpx.WriteTimeout):
            msg = f"sending {info.method} to {self.shown_endpoint} timed out after {self.timeout.write:g} s"
            hint = f"raise {ENV_TIMEOUT}, in seconds, or check your network"
        elif isinstance(exc, httpx.LocalProtocolError):
            msg = f"kvcli could not send {info.method} {info.url}: {what}"
            hint = "this is a bug in kvcli or a value that cannot travel over HTTP; please report it"
        elif isinstance(exc, httpx.UnsupportedProtocol):
            msg = f"unsupported endpoint URL {self.shown_endpoint}: {what}"
            hint = "use an http:// or https:// endpoint"
        else:
            msg = f"the connection to {self.shown_endpoint} failed during {info.method}: {what}"
        error = TransportError(msg, hint, request=info, reason="unreachable" if hint == UNREACHABLE_HINT else None)
        if sent and not retry_safe:
            error.hint = _join(hint, f"the request {MAYBE_APPLIED_HINT}")
        return error

    # --------------------------------------------------------------------------------------------------- debug
    def _debug_line(self, line: str) -> None:
        if not self.debug:
            return
        line = safe(line, self._secrets)  # the token, URL credentials; escape sequences made visible
        stream = self._debug_stream or sys.stderr
        with self._debug_lock:
            stream.write(f"[debug] {line}\n")
            stream.flush()

    def _debug_headers(self, prefix: str, headers: httpx.Headers) -> None:
        for raw_name, raw_value in headers.raw:
            name = raw_name.decode("latin-1")
            shown = REDACTED if name.lower() in SECRET_HEADERS else raw_value.decode(headers.encoding, "replace")
            self._debug_line(f"{prefix} {name}: {shown}")

    def _debug_body(self, prefix: str, body: bytes | None, content_type: str) -> None:
        if not body:
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._debug_line(f"{prefix} <{len(body)} bytes of binary data>")
            return
        shown = text[:DEBUG_BODY_CHARS].replace("\r", "\\r").replace("\n", "\\n")
        more = f" … ({len(body)} bytes in all)" if len(text) > DEBUG_BODY_CHARS else ""
        self._debug_line(f"{prefix} {shown}{more}")

    def _debug_request(self, request: httpx.Request, attempt: int) -> None:
        if not self.debug:
            return
        suffix = f" (attempt {attempt})" if attempt > 1 else ""
        self._debug_line(f"> {request.method} {request.url}{suffix}")
        self._debug_headers(">", request.headers)
        body = request.content if isinstance(request.stream, httpx.ByteStream) else None
        self._debug_body(">", body, request.headers.get("content-type", ""))

    def _debug_response(self, response: httpx.Response, seconds: float, body: bytes | None) -> None:
        if not self.debug:
            return
        self._debug_line(f"< {response.status_code} {response.reason_phrase} ({seconds * 1000:.0f} ms)")
        self._debug_headers("<", response.headers)
        self._debug_body("<", body, response.headers.get("content-type", ""))


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
