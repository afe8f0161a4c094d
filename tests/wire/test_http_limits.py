"""The HTTP client bounds every response: its decoded size, the time a transfer may take, and corrupt encodings.

In-process tests use httpx.MockTransport with generator bodies and a fake clock that moves only when the body
yields a chunk, so "slow" is exact and independent of the machine. The subprocess tests use small servers on
127.0.0.1 that never finish their body: the only way out for kvcli is the limit under test.
"""

from __future__ import annotations

import gzip
import os
import random
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from kvcli.api import errors as E
from kvcli.api.http import HttpAdapter
from kvcli.cli.exits import exit_code_for
from tests.conftest import subprocess_env

#: every test on both sessions (httpx's, and the light one through tests/wire/bridge.py)
pytestmark = pytest.mark.usefixtures("http_session")
#: not on the light session: they count how far the server's generator was pulled, or move the fake clock inside
#: it; over a socket the bridge writes ahead into the kernel's buffers (the same limits on real sockets:
#: tests/wire/test_light_session.py)
HTTPX_ONLY = {
    "test_a_never_ending_json_body_is_cut_at_the_response_limit",
    "test_an_error_body_is_bounded_too",
    "test_a_dripping_small_response_fails_at_the_deadline_although_every_byte_beats_the_read_timeout",
    "test_the_default_deadline_follows_the_read_timeout",
    "test_a_stalled_transfer_is_retried_when_safe_and_gives_up_within_the_budget",
    "test_a_large_value_on_a_slow_link_still_arrives",
    "test_a_value_slower_than_the_minimum_rate_is_given_up",
}

TOKEN = "limits-token-value"
URL = "http://127.0.0.1:7676"
MIB = 1024 * 1024
CORRUPT_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 32  # a valid header, then no valid block
LIMIT_ENV = (
    "KVCLI_HTTP_MAX_ATTEMPTS", "KVCLI_HTTP_MAX_RETRY_SECONDS", "KVCLI_HTTP_TIMEOUT", "KVCLI_HTTP_DEADLINE",
    "KVCLI_HTTP_MIN_RATE", "KVCLI_HTTP_MAX_RESPONSE_BYTES",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_http_env(monkeypatch):
    for name in LIMIT_ENV:
        monkeypatch.delenv(name, raising=False)


class Clock:
    """Monotonic time that moves only when told (by a body generator or the adapter's sleep)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(handler: Callable[[httpx.Request], httpx.Response], clock: Clock, **kw) -> HttpAdapter:
    return HttpAdapter(
        URL, TOKEN, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep, rng=random.Random(1), **kw
    )


def body(chunks: Iterator[bytes]) -> httpx.SyncByteStream:
    class Stream(httpx.SyncByteStream):
        def __iter__(self):
            yield from chunks

    return Stream()


def endless(chunk: bytes, counter: list[int], clock: Clock | None = None, step: float = 0.0) -> Iterator[bytes]:
    while True:
        counter[0] += 1
        if clock is not None:
            clock.now += step
        yield chunk


# ------------------------------------------------------------------------------------------------------- size
def test_a_never_ending_json_body_is_cut_at_the_response_limit():
    clock, sent = Clock(), [0]
    api = make(lambda r: httpx.Response(200, stream=body(endless(b" " * 65536, sent))), clock,
               max_response_bytes=MIB)
    with pytest.raises(E.TransportError) as info:
        api.list_stores()
    err = info.value
    assert exit_code_for(err) == 1
    assert "larger than 1 MiB" in err.message and "GET" in err.message
    assert "KVCLI_HTTP_MAX_RESPONSE_BYTES" in err.hint
    assert sent[0] <= MIB // 65536 + 2  # stopped reading right after the limit
    assert "\n" not in err.message


def test_the_limit_counts_decoded_bytes_so_a_gzip_bomb_is_stopped():
    bomb = gzip.compress(b"\0" * (64 * MIB), compresslevel=9)  # about 64 KiB on the wire
    assert len(bomb) < MIB
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=body(iter([bomb])))

    with pytest.raises(E.TransportError, match="larger than 4 MiB"):
        make(handler, Clock(), max_response_bytes=4 * MIB).list_stores()
    assert len(calls) == 1  # an oversized answer is not asked for again


def test_a_value_may_be_as_large_as_the_value_limit_and_not_larger(monkeypatch):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", str(3 * MIB))
    value = bytes(range(256)) * (3 * MIB // 256)

    def handler(request):
        return httpx.Response(200, headers={"Generation": "1"}, content=value if "ok" in request.url.path else
                              value + b"x" * (MIB + 1))

    api = make(handler, Clock(), max_response_bytes=MIB)  # the JSON limit does not apply to values
    assert api.get_item("s1", "ok").value == value
    with pytest.raises(E.TransportError) as info:
        api.get_item("s1", "too-big")
    assert "larger than" in info.value.message and "KVCLI_MAX_VALUE_BYTES" in info.value.hint


def test_an_error_body_is_bounded_too():
    sent = [0]
    api = make(lambda r: httpx.Response(500, stream=body(endless(b"e" * 65536, sent))), Clock(),
               max_response_bytes=MIB, max_attempts=1)
    with pytest.raises(E.TransportError, match="larger than 1 MiB"):
        api.get_store("s1")
    assert sent[0] <= MIB // 65536 + 2


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "identity"])
def test_compressed_bodies_still_decode_exactly_across_any_chunking(encoding):
    rng = random.Random(encoding)
    value = b"".join(rng.choice([b"\0" * 70000, os.urandom(3000), b"abc" * 999]) for _ in range(60))
    if encoding in ("gzip", "x-gzip"):
        wire = gzip.compress(value)
    elif encoding == "deflate":
        wire = zlib.compress(value)
    elif encoding == "raw-deflate":
        z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        wire = z.compress(value) + z.flush()
    else:
        wire = value
    header = {"raw-deflate": "deflate"}.get(encoding, encoding)

    def pieces():
        i = 0
        while i < len(wire):
            n = rng.choice([1, 7, 512, 65536, 300000])
            yield wire[i : i + n]
            i += n

    api = make(lambda r: httpx.Response(200, headers={"Generation": "1", "Content-Encoding": header},
                                        stream=body(pieces())), Clock())
    assert api.get_item("s1", "k").value == value


# ------------------------------------------------------------------------------------------------------- time
def test_a_dripping_small_response_fails_at_the_deadline_although_every_byte_beats_the_read_timeout():
    clock, sent = Clock(), [0]
    api = make(lambda r: httpx.Response(200, stream=body(endless(b" ", sent, clock, step=3.0))), clock,
               timeout=5, deadline=10, max_attempts=1)
    with pytest.raises(E.TransportError) as info:
        api.list_stores()
    err = info.value
    assert exit_code_for(err) == 1
    assert "did not finish" in err.message and "10 s" in err.message
    assert "KVCLI_HTTP_DEADLINE" in err.hint
    assert 3 <= sent[0] <= 5  # about 10 s of drip at 3 s a byte


def test_the_default_deadline_follows_the_read_timeout(monkeypatch):
    monkeypatch.setenv("KVCLI_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "1")
    clock, sent = Clock(), [0]
    api = make(lambda r: httpx.Response(200, stream=body(endless(b" ", sent, clock, step=3.0))), clock)
    with pytest.raises(E.TransportError, match="did not finish"):
        api.list_stores()
    assert clock.now <= 5 * 2 + 3 + 0.01


def test_a_stalled_transfer_is_retried_when_safe_and_gives_up_within_the_budget():
    clock, sent = Clock(), [0]
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, stream=body(endless(b" ", sent, clock, step=1.0)))

    api = make(handler, clock, deadline=4, max_attempts=3, max_retry_seconds=60)
    with pytest.raises(E.TransportError, match=r"gave up after 3 attempts"):
        api.list_stores()
    assert len(calls) == 3


def test_a_large_value_on_a_slow_link_still_arrives():
    value = os.urandom(25 * MIB)
    clock = Clock()
    rate = 20 * 1024  # bytes per second: a slow link, above the default minimum rate
    piece = 64 * 1024

    def chunks():
        for i in range(0, len(value), piece):
            part = value[i : i + piece]
            clock.now += len(part) / rate
            yield part

    api = make(lambda r: httpx.Response(200, headers={"Generation": "3"}, stream=body(chunks())), clock,
               timeout=5, deadline=10)
    item = api.get_item("s1", "big")
    assert item.value == value
    assert clock.now > 1000  # it took far longer than the deadline of a small request


def test_a_value_slower_than_the_minimum_rate_is_given_up():
    clock, sent = Clock(), [0]
    api = make(lambda r: httpx.Response(200, headers={"Generation": "3"},
                                        stream=body(endless(b"v" * 1024, sent, clock, step=1.0))),
               clock, deadline=10, min_rate=4096, max_attempts=1)
    with pytest.raises(E.TransportError) as info:
        api.get_item("s1", "k")
    assert "did not finish" in info.value.message and "KVCLI_HTTP_MIN_RATE" in info.value.hint
    # 1 KiB/s against 4 KiB/s allowed: the allowance grows by 0.25 s per second, so it ends near 10 / 0.75 s
    assert 12 <= sent[0] <= 15


@pytest.mark.parametrize(
    ("name", "value"),
    [("KVCLI_HTTP_DEADLINE", "0"), ("KVCLI_HTTP_MIN_RATE", "-1"), ("KVCLI_HTTP_MAX_RESPONSE_BYTES", "lots")],
)
def test_malformed_limit_variables_are_config_errors(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(E.ConfigError, match=name):
        make(lambda r: httpx.Response(200), Clock())


# ----------------------------------------------------------------------------------------------- corrupt gzip
def test_a_corrupt_gzip_body_is_a_transport_error_retried_like_a_truncated_one():
    calls = []
    good = gzip.compress(b'{"data": [], "meta": {}}')

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=body(iter([CORRUPT_GZIP])))
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=body(iter([good])))

    assert make(handler, Clock()).list_stores().items == []
    assert len(calls) == 2


def test_a_corrupt_gzip_body_that_persists_is_one_line_with_the_transport_exit_code():
    api = make(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=body(iter([CORRUPT_GZIP]))),
               Clock(), max_attempts=2)
    with pytest.raises(E.TransportError) as info:
        api.get_item("s1", "k")
    assert exit_code_for(info.value) == 1
    assert "could not be decoded" in info.value.message and "gave up after 2 attempts" in info.value.message


def test_a_corrupt_body_of_a_request_that_must_not_be_repeated_is_not_repeated():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(201, headers={"Content-Encoding": "deflate"}, stream=body(iter([b"not deflate at all"])))

    with pytest.raises(E.TransportError) as info:
        make(handler, Clock()).create_store("new")
    assert len(calls) == 1 and "may or may not have been applied" in info.value.hint


# ------------------------------------------------------------------------------------- the CLI against servers
class RawServer:
    """A 127.0.0.1 server answering every request with ``head`` and then whatever ``feed(send)`` sends."""

    def __init__(self, head: bytes, feed: Callable[[Callable[[bytes], None]], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.head, self.feed = head, feed
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                conn.sendall(self.head)

                def send(chunk: bytes) -> None:
                    conn.sendall(chunk)
                    self.sent += len(chunk)

                self.feed(send)
            except OSError:
                return  # kvcli hung up: that is the point

    def close(self) -> None:
        self.sock.close()


def _run_kvcli(url: str, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, int]:
    """Run kvcli in a child and return it with the child's peak RSS in KiB (measured in the child)."""
    # VmHWM (the peak RSS of this process image; ru_maxrss would include the parent's size at fork on Linux)
    code = (
        "import sys, runpy\n"
        "sys.argv = ['kvcli'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('kvcli', run_name='__main__')\n"
        "finally:\n"
        "    try:\n"
        "        hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "    except OSError:\n"
        "        hwm = -1\n"
        "    sys.stderr.write('MAXRSS=%s\\n' % hwm)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--endpoint", url, *args],
        env=subprocess_env({"NO_COLOR": "1", "KVCLI_HTTP_MAX_ATTEMPTS": "1", **env}),
        capture_output=True, text=True, timeout=300,
    )
    rss = int(proc.stderr.rsplit("MAXRSS=", 1)[1].split()[0])
    proc.stderr = proc.stderr.rsplit("MAXRSS=", 1)[0]
    return proc, rss


CHUNKED_200 = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory is read from /proc")


@needs_proc
def test_cli_a_never_ending_chunked_body_fails_in_bounded_memory():
    block = b" " * 65536
    frame = b"%x\r\n%s\r\n" % (len(block), block)

    def forever(send):
        while True:
            send(frame)

    srv = RawServer(CHUNKED_200, forever)
    try:
        proc, rss_kib = _run_kvcli(srv.url, "kv-store", "list")
    finally:
        srv.close()
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "larger than" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert rss_kib < 120 * 1024, rss_kib  # the default JSON limit is 16 MiB; kvcli itself takes about 45 MiB


@needs_proc
def test_cli_a_gzip_bomb_fails_in_bounded_memory():
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MIB
    bomb = b"".join(z.compress(zeros) for _ in range(512)) + z.flush()  # 512 MiB decoded, ~0.5 MiB sent
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(bomb))
    srv = RawServer(head, lambda send: send(bomb))
    try:
        proc, rss_kib = _run_kvcli(srv.url, "kv-store", "list")
    finally:
        srv.close()
    assert proc.returncode == 1, proc.stderr
    assert "larger than" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert rss_kib < 120 * 1024, rss_kib  # decoded a piece at a time, never 64 MiB from one network read


def test_cli_a_dripping_server_is_given_up_at_the_deadline():
    stop = threading.Event()

    def drip(send):
        send(b"1\r\n \r\n")
        while not stop.wait(0.05):  # a byte every 50 ms: each one well within the read timeout
            send(b"1\r\n \r\n")

    srv = RawServer(CHUNKED_200, drip)
    try:
        proc, _ = _run_kvcli(srv.url, "kv-store", "list", KVCLI_HTTP_TIMEOUT="60", KVCLI_HTTP_DEADLINE="1")
    finally:
        stop.set()
        srv.close()
    assert proc.returncode == 1, proc.stderr
    assert "did not finish" in proc.stderr and "KVCLI_HTTP_DEADLINE" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert srv.sent > 0


def test_cli_a_corrupt_gzip_answer_is_one_line_not_an_internal_error():
    junk = CORRUPT_GZIP
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(junk))
    srv = RawServer(head, lambda send: send(junk))
    try:
        proc, _ = _run_kvcli(srv.url, "kv-store", "list")
    finally:
        srv.close()
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr and "could not be decoded" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1



def test_headers_dripping_within_the_read_timeout_are_cut_at_the_deadline():
    """The socket reads themselves are bounded: a server that never finishes its headers cannot hold kvcli."""
    stop = threading.Event()

    def drip(send):
        send(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        while not stop.wait(0.05):
            send(b"x")

    srv = RawServer(b"", drip)
    try:
        api = HttpAdapter(srv.url, TOKEN, timeout=60, deadline=1, max_attempts=1)
        with pytest.raises(E.TransportError) as info:
            api.list_stores()
    finally:
        stop.set()
        srv.close()
    assert "did not finish answering GET within 1 s" in info.value.message, info.value.message
    assert srv.sent > 0


def test_a_slow_but_moving_value_over_a_socket_is_not_cut_by_the_deadline(monkeypatch):
    """Each byte of a value earns time: a 1 s deadline does not stop a value that keeps arriving."""
    value = os.urandom(256 * 1024)
    never = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nGeneration: 1\r\nContent-Length: %d\r\n\r\n" % len(value)

    def trickle(send):
        for i in range(0, len(value), 8192):
            send(value[i : i + 8192])
            never.wait(0.05)  # about 160 KiB/s: far above the minimum rate, far longer than 1 s in all

    srv = RawServer(head, trickle)
    try:
        api = HttpAdapter(srv.url, TOKEN, timeout=60, deadline=1, min_rate=1024, max_attempts=1)
        assert api.get_item("s1", "k").value == value
    finally:
        srv.close()


def test_an_upload_the_server_stops_reading_is_cut_at_the_deadline():
    stop = threading.Event()

    def never_read(send):  # the request's headers were read; its body never is
        stop.wait(120)

    srv = RawServer(b"", never_read)
    try:
        api = HttpAdapter(srv.url, TOKEN, timeout=60, deadline=1, min_rate=10**9, max_attempts=1)
        with pytest.raises(E.TransportError) as info:
            api.put_item("s1", "k", b"v" * (64 * MIB))  # far more than the socket buffers hold
    finally:
        stop.set()
        srv.close()
    # 1 s, plus 64 MiB at 1 GB/s
    assert "did not finish answering PUT within 1.1 s" in info.value.message, info.value.message
