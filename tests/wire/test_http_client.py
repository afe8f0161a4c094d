"""The HTTP adapter against httpx.MockTransport: retries, giving up, timeouts, error bodies, debug output, auth."""

from __future__ import annotations

import email.utils
import io
import random
import socket
from collections.abc import Callable

import httpx
import pytest

from kvcli.api import errors as E
from kvcli.api.http import HttpAdapter
from kvcli.api.models import PutMode
from kvcli.cli.exits import exit_code_for

#: every test on both sessions (httpx's, and the light one through tests/wire/bridge.py)
pytestmark = pytest.mark.usefixtures("http_session")
#: not on the light session: a connect error, a timeout or a certificate raised inside the transport has no socket
#: equivalent here (tests/wire/test_light_session.py has them on real sockets)
HTTPX_ONLY = {
    "test_append_is_retried_when_it_never_left",
    "test_store_create_is_retried_on_connect_errors",
    "test_a_request_that_cannot_be_sent_is_not_called_a_connection_failure",
    "test_read_timeout_message_names_the_setting",
    "test_an_untrusted_certificate_fails_at_once_with_a_certificate_hint",
}

TOKEN = "s3cr3t-token-value"
URL = "http://127.0.0.1:7676"
WALL = 1_750_000_000.0
STORE = {"id": "s1", "name": "one", "created_at": "2025-06-23 19:41:15", "updated_at": "2025-06-23 19:41:15"}
LISTING = {"data": [STORE], "meta": {"limit": 1000, "total": 1}}


@pytest.fixture(autouse=True)
def _no_http_env(monkeypatch):
    for name in ("KVCLI_HTTP_MAX_ATTEMPTS", "KVCLI_HTTP_MAX_RETRY_SECONDS", "KVCLI_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


class FakeTime:
    """A monotonic clock that only moves when the adapter sleeps, and a wall clock WALL seconds ahead of it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now


class Server:
    """Answers requests from a script: each step is a Response, an exception to raise, or a callable."""

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)


def cli_hint(err) -> str:
    """The hint as the CLI prints it (the library's own names no flag: kvcli/cli/hints.py words it)."""
    from kvcli.cli.hints import worded

    return worded(err)[1] or ""


def adapter(server: Server, clock: FakeTime | None = None, token: str | None = TOKEN, url: str = URL, **kw):
    clock = clock or FakeTime()
    return HttpAdapter(
        url,
        token,
        transport=httpx.MockTransport(server),
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.wall,
        rng=random.Random(7),
        **kw,
    )


def ok_listing() -> httpx.Response:
    return httpx.Response(200, json=LISTING)


# ------------------------------------------------------------------------------------------------------ retries
def test_429_with_retry_after_seconds_waits_that_long_then_succeeds():
    clock = FakeTime()
    srv = Server(httpx.Response(429, headers={"Retry-After": "2"}), ok_listing())
    page = adapter(srv, clock).list_stores()
    assert [s.id for s in page.items] == ["s1"]
    assert len(srv.requests) == 2
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.5


def test_retry_after_http_date_is_honoured():
    clock = FakeTime()
    when = email.utils.formatdate(WALL + 7, usegmt=True)
    srv = Server(httpx.Response(503, headers={"Retry-After": when}), ok_listing())
    adapter(srv, clock).list_stores()
    assert 7.0 <= clock.sleeps[0] <= 7.5


def test_fastly_ratelimit_reset_is_honoured_on_429():
    clock = FakeTime()
    srv = Server(httpx.Response(429, headers={"Fastly-RateLimit-Reset": str(int(WALL + 4))}), ok_listing())
    adapter(srv, clock).list_stores()
    assert 4.0 <= clock.sleeps[0] <= 4.5


def test_ratelimit_reset_on_a_500_is_not_a_wait_instruction():
    clock = FakeTime()
    srv = Server(httpx.Response(500, headers={"Fastly-RateLimit-Reset": str(int(WALL + 40))}), ok_listing())
    adapter(srv, clock).list_stores()
    assert clock.sleeps[0] <= 0.5  # ordinary backoff, not 40 s


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(status):
    clock = FakeTime()
    srv = Server(httpx.Response(status), ok_listing())
    assert adapter(srv, clock).list_stores().items[0].id == "s1"
    assert len(srv.requests) == 2
    assert 0 <= clock.sleeps[0] <= 0.5  # first backoff: full jitter in [0, 0.5]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadError("Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("Connection refused"),
    ],
)
def test_reset_connection_on_a_get_is_retried(exc):
    srv = Server(exc, ok_listing())
    assert adapter(srv).list_stores().items[0].name == "one"
    assert len(srv.requests) == 2


def test_backoff_is_exponential_with_full_jitter_and_capped():
    clock = FakeTime()
    srv = Server(httpx.Response(503))
    with pytest.raises(E.ServerError):
        adapter(srv, clock, max_attempts=8, max_retry_seconds=1000).list_stores()
    assert len(srv.requests) == 8 and len(clock.sleeps) == 7
    for n, slept in enumerate(clock.sleeps, start=1):
        assert 0 <= slept <= min(8.0, 0.5 * 2 ** (n - 1))
    assert len(set(clock.sleeps)) == 7  # jittered, not a fixed schedule


def test_gives_up_after_max_attempts_with_the_last_error():
    clock = FakeTime()
    srv = Server(httpx.Response(429, json={"msg": "Rate limit exceeded"}, headers={"Retry-After": "1"}))
    with pytest.raises(E.RateLimited) as info:
        adapter(srv, clock).list_stores()
    assert len(srv.requests) == 5  # the default
    err = info.value
    assert exit_code_for(err) == 6
    assert "gave up after 5 attempts over" in err.message
    assert err.message.startswith("the Fastly API returned 429 Too Many Requests: Rate limit exceeded (gave up")
    assert "KVCLI_HTTP_MAX_ATTEMPTS" in err.hint
    assert err.retry_after == pytest.approx(1.0)


def test_gives_up_when_the_time_budget_is_spent():
    clock = FakeTime()
    srv = Server(httpx.Response(503, headers={"Retry-After": "10"}))
    with pytest.raises(E.ServerError) as info:
        adapter(srv, clock, max_attempts=100, max_retry_seconds=25).list_stores()
    assert len(srv.requests) == 3  # t=0, t≈10, t≈20; the next wait would pass 25 s
    assert clock.now <= 25
    assert "gave up after 3 attempts over 2" in info.value.message
    assert exit_code_for(info.value) == 1


def test_a_wait_longer_than_the_budget_is_not_attempted():
    clock = FakeTime()
    srv = Server(httpx.Response(429, headers={"Fastly-RateLimit-Reset": str(int(WALL + 3600))}))
    with pytest.raises(E.RateLimited) as info:
        adapter(srv, clock).list_stores()
    assert len(srv.requests) == 1 and clock.sleeps == []
    assert "the server asked to wait 3600 s" in info.value.message


def test_unreachable_server_is_a_transport_error_after_retries():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeTime()
    api = HttpAdapter(f"http://127.0.0.1:{port}", None, sleep=clock.sleep, clock=clock.monotonic, max_attempts=3)
    with pytest.raises(E.TransportError) as info:
        api.list_stores()
    api.close()
    err = info.value
    assert len(clock.sleeps) == 2
    assert f"cannot connect to http://127.0.0.1:{port}" in err.message
    assert "gave up after 3 attempts" in err.message
    assert "is the server running?" in err.hint and "--endpoint" in cli_hint(err)
    assert err.request.method == "GET" and err.request.url.endswith("/resources/stores/kv")
    assert exit_code_for(err) == 1


# ---------------------------------------------------------------------------------------- what is safe to retry
@pytest.mark.parametrize("mode", [PutMode.APPEND, PutMode.PREPEND])
@pytest.mark.parametrize(
    "failure", [httpx.Response(503), httpx.Response(500), httpx.ReadError("reset"), httpx.ReadTimeout("slow")]
)
def test_append_and_prepend_are_not_retried_once_they_may_have_arrived(mode, failure):
    srv = Server(failure, httpx.Response(200))
    with pytest.raises(E.KvcliError) as info:
        adapter(srv).put_item("s1", "k", b"tail", mode=mode)
    assert len(srv.requests) == 1
    assert "may or may not have been applied" in info.value.hint


def test_append_is_not_retried_on_429_either():
    srv = Server(httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200))
    with pytest.raises(E.RateLimited):
        adapter(srv).put_item("s1", "k", b"tail", mode=PutMode.APPEND)
    assert len(srv.requests) == 1


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow connect")])
def test_append_is_retried_when_it_never_left(exc):
    srv = Server(exc, httpx.Response(200))
    adapter(srv).put_item("s1", "k", b"tail", mode=PutMode.APPEND)
    assert len(srv.requests) == 2


@pytest.mark.parametrize("mode", [PutMode.UPSERT, PutMode.ADD])
def test_item_upserts_are_retried(mode):
    srv = Server(httpx.Response(503), httpx.ReadError("reset"), httpx.Response(200))
    adapter(srv).put_item("s1", "k", b"v", mode=mode)
    assert len(srv.requests) == 3
    assert all(r.content == b"v" for r in srv.requests)


def test_a_412_after_an_ambiguous_attempt_says_so():
    srv = Server(httpx.ReadError("reset"), httpx.Response(412, headers={"Content-Length": "0"}))
    with pytest.raises(E.PreconditionFailed) as info:
        adapter(srv).put_item("s1", "k", b"v", mode=PutMode.ADD)
    assert "earlier attempt" in info.value.hint


def test_store_create_is_not_repeated_after_it_may_have_arrived():
    srv = Server(httpx.Response(503), httpx.Response(201, json=STORE))
    with pytest.raises(E.ServerError) as info:
        adapter(srv).create_store("one")
    assert len(srv.requests) == 1
    assert "may or may not have been applied" in info.value.hint


def test_store_create_is_retried_on_connect_errors():
    srv = Server(httpx.ConnectError("refused"), httpx.Response(201, json=STORE))
    assert adapter(srv).create_store("one").id == "s1"
    assert len(srv.requests) == 2


def test_deletes_and_batches_are_retried():
    srv = Server(httpx.Response(502), httpx.Response(204))
    adapter(srv).delete_item("s1", "k")
    assert len(srv.requests) == 2
    srv = Server(httpx.Response(503), httpx.Response(200, json={"type": "", "title": "success", "errors": []}))
    from kvcli.api.models import BatchEntry

    assert adapter(srv).put_batch("s1", [BatchEntry("a", b"1")]).written == 1
    assert len(srv.requests) == 2 and srv.requests[0].content == srv.requests[1].content


def test_4xx_other_than_429_is_never_retried():
    srv = Server(httpx.Response(404, json={"msg": "Record not found"}), ok_listing())
    with pytest.raises(E.NotFound):
        adapter(srv).get_store("nope")
    assert len(srv.requests) == 1


# ----------------------------------------------------------------------------------------- configuration
def test_environment_sets_attempts_budget_and_timeout(monkeypatch):
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("KVCLI_HTTP_MAX_RETRY_SECONDS", "30")
    monkeypatch.setenv("KVCLI_HTTP_TIMEOUT", "5")
    srv = Server(httpx.Response(503))
    api = adapter(srv)
    assert api.retry.max_attempts == 2 and api.retry.max_retry_seconds == 30
    assert api.timeout.read == 5 and api.timeout.connect == 5
    with pytest.raises(E.ServerError, match="gave up after 2 attempts"):
        api.list_stores()
    assert len(srv.requests) == 2


def test_constructor_arguments_beat_the_environment(monkeypatch):
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "2")
    srv = Server(httpx.Response(503))
    with pytest.raises(E.ServerError):
        adapter(srv, max_attempts=3).list_stores()
    assert len(srv.requests) == 3


def test_default_timeouts():
    api = adapter(Server(ok_listing()))
    assert api.timeout.connect == 10 and api.timeout.read == 60
    assert api.retry.max_attempts == 5 and api.retry.max_retry_seconds == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [("KVCLI_HTTP_MAX_ATTEMPTS", "0"), ("KVCLI_HTTP_MAX_ATTEMPTS", "two"), ("KVCLI_HTTP_TIMEOUT", "0"),
     ("KVCLI_HTTP_MAX_RETRY_SECONDS", "-1")],
)
def test_malformed_environment_is_a_config_error(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(E.ConfigError) as info:
        adapter(Server(ok_listing()))
    assert name in info.value.message and info.value.hint


def test_a_request_that_cannot_be_sent_is_not_called_a_connection_failure():
    srv = Server(httpx.LocalProtocolError("Illegal header value"))
    with pytest.raises(E.TransportError) as info:
        adapter(srv).list_stores()
    assert len(srv.requests) == 1
    assert info.value.message.startswith("kvcli could not send GET http://127.0.0.1:7676/resources/stores/kv")


def test_read_timeout_message_names_the_setting():
    srv = Server(httpx.ReadTimeout("timed out"))
    with pytest.raises(E.TransportError) as info:
        adapter(srv, max_attempts=1).list_stores()
    assert "did not answer GET within 60 s" in info.value.message
    assert "KVCLI_HTTP_TIMEOUT" in info.value.hint


# -------------------------------------------------------------------------------------------------- errors
def _error(response: httpx.Response, call: Callable | None = None) -> E.ApiError:
    srv = Server(response)
    api = adapter(srv, max_attempts=1)
    with pytest.raises(E.ApiError) as info:
        (call or (lambda a: a.get_store("s1")))(api)
    return info.value


def test_legacy_msg_detail_body():
    err = _error(httpx.Response(404, json={"msg": "Record not found", "detail": "Couldn't find Store 's1'"}))
    assert isinstance(err, E.NotFound) and exit_code_for(err) == 3
    assert err.message == "the Fastly API returned 404 Not Found: Record not found (Couldn't find Store 's1')"
    assert err.title == "Record not found" and err.detail == "Couldn't find Store 's1'"
    assert "kvcli kv-store list" in err.hint
    assert err.request == E.RequestInfo("GET", f"{URL}/resources/stores/kv/s1")
    assert TOKEN not in str(err.request) and TOKEN not in err.message + err.hint


def test_empty_412_body_uses_what_the_call_knows():
    err = _error(
        httpx.Response(412, headers={"Content-Length": "0"}),
        lambda a: a.put_item("s1", "apple", b"", mode=PutMode.ADD),
    )
    assert isinstance(err, E.PreconditionFailed) and exit_code_for(err) == 4
    assert err.message == "the Fastly API returned 412 Precondition Failed: key 'apple' already exists"
    err = _error(httpx.Response(412), lambda a: a.delete_item("s1", "apple", if_generation_match=5))
    assert "generation mismatch for key 'apple'" in err.message


def test_empty_404_body_on_an_item():
    err = _error(httpx.Response(404), lambda a: a.get_item("s1", "apple"))
    assert isinstance(err, E.NotFound)
    assert "key 'apple' not found in KV store 's1'" in err.message
    assert "kv-store-entry list" in err.hint


def test_batch_style_errors_array_on_a_non_batch_endpoint():
    body = {"errors": [{"index": 0, "code": "503", "reason": "KV store product is not enabled"}]}
    err = _error(httpx.Response(503, json=body), lambda a: a.create_store("x"))
    assert isinstance(err, E.ServerError)
    assert err.message == (
        "the Fastly API returned 503 Service Unavailable: error at index: 0 (KV store product is not enabled)"
    )


def test_problem_json_body():
    body = {"type": "https://x/probs/name", "title": "Invalid name", "detail": "name too long", "status": 400}
    err = _error(
        httpx.Response(400, json=body, headers={"Content-Type": "application/problem+json"}),
        lambda a: a.create_store("x"),
    )
    assert isinstance(err, E.InvalidInput) and exit_code_for(err) == 2
    assert err.message == "the Fastly API returned 400 Bad Request: Invalid name (name too long)"


def test_json_api_body_and_403_hint():
    body = {"errors": [{"title": "Access denied", "detail": "token lacks scope", "code": "forbidden", "status": "403"}]}
    err = _error(httpx.Response(403, json=body, headers={"Content-Type": "application/vnd.api+json"}))
    assert isinstance(err, E.AuthError) and exit_code_for(err) == 5
    assert err.message == "the Fastly API returned 403 Forbidden: Access denied (token lacks scope)"
    assert "permission" in err.hint and "kvcli profile" in err.hint


def test_json_api_body_with_several_errors():
    body = {"errors": [{"title": "A", "detail": "a"}, {"title": "B"}]}
    err = _error(httpx.Response(400, json=body, headers={"Content-Type": "application/vnd.api+json"}))
    assert err.message == "the Fastly API returned 400 Bad Request: 2 errors (first: A: a)"


def test_401_hint_names_the_fixes():
    err = _error(httpx.Response(401, json={"msg": "Provided credentials are missing or invalid"}))
    assert isinstance(err, E.AuthError) and exit_code_for(err) == 5
    assert err.message.endswith("401 Unauthorized: Provided credentials are missing or invalid")
    assert "--token" in cli_hint(err) and "kvcli profile create" in err.hint and "--" not in err.hint


def test_non_json_error_body_is_one_line():
    err = _error(httpx.Response(502, text="bad\ngateway\r\nfrom proxy"))
    assert "\n" not in err.message
    assert err.message.endswith("502 Bad Gateway: bad gateway from proxy")


def test_html_and_broken_json_error_bodies():
    err = _error(httpx.Response(503, text="<html><body>down</body></html>", headers={"Content-Type": "text/html"}))
    assert err.message == "the Fastly API returned 503 Service Unavailable: Undefined error (an HTML page)"
    err = _error(httpx.Response(500, content=b'{"msg": ', headers={"Content-Type": "application/json"}))
    assert err.message == 'the Fastly API returned 500 Internal Server Error: Undefined error ({"msg":)'


def test_a_body_that_only_repeats_the_status_gives_way_to_what_the_call_knows():
    err = _error(httpx.Response(404, text="Not Found"), lambda a: a.get_item("s1", "apple"))
    assert err.message.startswith("the Fastly API returned 404 Not Found: key 'apple' not found in KV store 's1'")
    err = _error(httpx.Response(404, json={"msg": "Record not found"}), lambda a: a.get_item("s1", "apple"))
    assert err.message == "the Fastly API returned 404 Not Found: Record not found"


def test_a_title_that_repeats_the_status_gives_way_to_the_detail():
    err = _error(httpx.Response(409, json={"msg": "Conflict", "detail": "KV store 's1' is not empty (3 keys)"}),
                 lambda a: a.delete_store("s1"))
    assert err.message == "the Fastly API returned 409 Conflict: KV store 's1' is not empty (3 keys)"
    assert (err.title, err.detail) == ("Conflict", "KV store 's1' is not empty (3 keys)")  # the body, as sent


def test_409_on_store_delete():
    err = _error(httpx.Response(409), lambda a: a.delete_store("s1"))
    assert isinstance(err, E.Conflict) and exit_code_for(err) == 4
    assert "KV store 's1' is not empty" in err.message and "--all" in cli_hint(err) and "--" not in err.hint


def test_success_with_a_body_that_is_not_json():
    srv = Server(httpx.Response(200, text="<html>hello</html>"))
    with pytest.raises(E.ApiError, match="not JSON") as info:
        adapter(srv).list_stores()
    assert "--endpoint" in cli_hint(info.value) and "--" not in info.value.hint


# -------------------------------------------------------------------------------------------------- debug
def test_debug_prints_requests_and_responses_with_the_token_redacted(capsys):
    long_body = {"meta": {"limit": 1000, "echo": TOKEN}, "data": [STORE] * 100}  # a server echoing the token
    srv = Server(httpx.Response(503), httpx.Response(200, json=long_body, headers={"X-Served-By": "cache-1"}))
    api = adapter(srv, debug=True)
    api.list_stores(limit=5)
    api.put_item("s1", "k", b"hello", metadata="m")
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "> GET http://127.0.0.1:7676/resources/stores/kv?limit=5" in err
    assert "> Fastly-Key: [REDACTED]" in err
    assert "> User-Agent: kvcli/" in err
    assert "< 503 Service Unavailable" in err
    assert "retrying in" in err and "(attempt 2)" in err
    assert "< 200 OK" in err and "x-served-by: cache-1" in err.lower()
    assert "bytes in all)" in err  # the long body is truncated
    assert '"echo":"[REDACTED]"' in err
    assert "> PUT http://127.0.0.1:7676/resources/stores/kv/s1/keys/k" in err
    assert "> metadata: m" in err and "> hello" in err


def test_debug_to_an_explicit_stream_and_binary_bodies(capsys):
    stream = io.StringIO()
    srv = Server(httpx.Response(200, content=b"\xff\x00\x01", headers={"Generation": "1"}))
    adapter(srv, debug=True, debug_stream=stream).get_item("s1", "k")
    out = stream.getvalue()
    assert "<3 bytes of binary data>" in out and "[REDACTED]" in out and TOKEN not in out
    assert capsys.readouterr().err == ""


def test_no_debug_output_by_default(capsys):
    adapter(Server(ok_listing())).list_stores()
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------------------------- auth
def test_missing_token_for_a_remote_endpoint_fails_before_any_request():
    srv = Server(ok_listing())
    api = adapter(srv, token=None, url="https://api.fastly.com")
    with pytest.raises(E.ConfigError) as info:
        api.list_stores()
    assert srv.requests == []
    assert "no API token for https://api.fastly.com" in info.value.message
    assert "-t/--token" in cli_hint(info.value) and "kvcli profile create" in info.value.hint


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:7676", "http://127.9.8.7:1", "http://localhost:7676/", "http://[::1]:7676"]
)
def test_loopback_endpoints_work_without_a_token(url):
    srv = Server(ok_listing())
    adapter(srv, token=None, url=url).list_stores()
    assert "fastly-key" not in srv.requests[0].headers


def test_empty_token_counts_as_none():
    srv = Server(ok_listing())
    with pytest.raises(E.ConfigError):
        adapter(srv, token="", url="https://api.example.com").list_stores()
    assert srv.requests == []


@pytest.mark.parametrize("url", ["api.fastly.com", "ftp://x", "http://", "https://x/?q=1", ""])
def test_invalid_endpoint_is_a_config_error(url):
    with pytest.raises(E.ConfigError, match="invalid API endpoint"):
        adapter(Server(ok_listing()), url=url)


def test_endpoint_path_prefix_and_trailing_slash_are_kept():
    srv = Server(ok_listing())
    adapter(srv, url="http://127.0.0.1:7676/proxy/").list_stores()
    assert srv.requests[0].url.raw_path == b"/proxy/resources/stores/kv"


def test_redirects_are_not_followed():
    srv = Server(httpx.Response(302, headers={"Location": "https://evil.example/steal"}))
    with pytest.raises(E.ApiError) as info:
        adapter(srv).list_stores()
    assert len(srv.requests) == 1 and info.value.status == 302


def _certificate_refused() -> httpx.ConnectError:
    """What httpx raises when the server's certificate does not verify (the ssl error is its cause)."""
    import ssl

    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed")
    try:
        raise httpx.ConnectError(str(cause)) from cause
    except httpx.ConnectError as exc:
        return exc


def test_an_untrusted_certificate_fails_at_once_with_a_certificate_hint():
    """A certificate that does not verify will not verify on a retry: one attempt, and a hint about trust, not
    'is the server running?'."""
    srv = Server(_certificate_refused(), ok_listing())
    with pytest.raises(E.TransportError) as caught:
        adapter(srv).list_stores()
    assert len(srv.requests) == 1
    assert "certificate" in caught.value.message and "not trusted" in caught.value.message
    assert "SSL_CERT_FILE" in (caught.value.hint or "") and "server running" not in (caught.value.hint or "")
