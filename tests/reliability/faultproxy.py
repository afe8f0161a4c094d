"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 for the reliability tests.

It sits between kvcli's HTTP adapter and `kvcli local serve` and, for a configurable share of requests (seeded
random), answers with a fault instead of (or after) forwarding:

==================  ==============================================================================================
``429``             429 with no hint how long to wait (the client backs off on its own)
``429-retry-after`` 429 with ``Retry-After: 0`` or ``1`` (seconds; 1 for ``wait_share`` of them)
``429-date``        429 with ``Retry-After`` as an HTTP date (now, or one second ahead)
``429-reset``       429 with ``Fastly-RateLimit-Reset`` (epoch seconds, now or one second ahead)
``500``             500 with a legacy error body
``503``             503, sometimes with ``Retry-After: 0``
``slow``            forwarded, but only after a delay (``slow_seconds``)
``drop``            the connection is closed without an answer; the request was NOT forwarded
``drop-after``      the request WAS forwarded (and applied), then the connection is closed without an answer
``reset``           the connection is reset (RST) without an answer; not forwarded
``truncate``        forwarded; the answer's headers and half of its body are sent, then the connection closes
==================  ==============================================================================================

Requests are forwarded byte for byte (the raw path, so ``%2F`` in keys survives). ``counts`` tells how many of each
fault were injected and how many requests were forwarded, so a test can prove the faults really happened.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALL_FAULTS = ("429", "429-retry-after", "429-date", "429-reset", "500", "503", "slow", "drop", "drop-after", "reset",
              "truncate")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


class FaultProxy:
    def __init__(self, upstream: str, *, rate: float = 0.1, faults=ALL_FAULTS, seed: int = 0,
                 slow_seconds: float = 0.2, wait_share: float = 0.05) -> None:
        host, port = upstream.removeprefix("http://").rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.rate = rate
        self.faults = tuple(faults)
        self.slow_seconds = slow_seconds
        self.wait_share = wait_share  # share of 429s whose Retry-After / reset asks for a real (1 s) wait
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str]] = []  # (method, path, outcome)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                proxy._handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET  # noqa: N815

            def setup(self) -> None:
                super().setup()
                # headers and body are separate writes: without this each answer waits for a delayed ACK (~40 ms)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def finish(self) -> None:
                up = getattr(self, "_upstream", None)
                if up is not None:
                    up.close()
                super().finish()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # ------------------------------------------------------------------------------------------------ control
    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set(self, *, rate: float | None = None, faults=None) -> None:
        with self._lock:
            if rate is not None:
                self.rate = rate
            if faults is not None:
                self.faults = tuple(faults)

    @property
    def injected(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "forwarded")

    # ----------------------------------------------------------------------------------------------- handling
    def _choose(self) -> str | None:
        with self._lock:
            if self._rng.random() < self.rate:
                return self._rng.choice(self.faults)
            return None

    def _record(self, h: BaseHTTPRequestHandler, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1
            self.requests.append((h.command, h.path, outcome))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        fault = self._choose()
        rng_value = self._rng.random()
        if fault is None:
            self._record(h, "forwarded")
            self._forward(h, body)
            return
        self._record(h, fault)
        if fault.startswith("429") or fault in ("500", "503"):
            status = 429 if fault.startswith("429") else int(fault)
            headers = {}
            # mostly "now" (the retry comes at once), sometimes a second ahead: an export writes in key order, so a
            # wait on one key holds up the others and many real waits would only make the test slow
            ahead = 1 if rng_value < self.wait_share else 0
            if fault == "429-retry-after":
                headers["Retry-After"] = str(ahead)
            elif fault == "429-date":
                headers["Retry-After"] = formatdate(time.time() + ahead, usegmt=True)
            elif fault == "429-reset":
                headers["Fastly-RateLimit-Reset"] = str(int(time.time()) + ahead)
                headers["Fastly-RateLimit-Remaining"] = "0"
            elif fault == "503" and rng_value < 0.5:
                headers["Retry-After"] = "0"
            msg = {429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}[status]
            _reply(h, status, json.dumps({"msg": msg, "detail": f"injected {fault}"}).encode(), headers)
            return
        if fault == "slow":
            time.sleep(self.slow_seconds)
            self._forward(h, body)
            return
        if fault == "drop":
            h.close_connection = True
            return
        if fault == "reset":
            _reset(h)
            return
        if fault == "drop-after":
            self._upstream_call(h, body)
            h.close_connection = True
            return
        if fault == "truncate":
            status, headers, data = self._upstream_call(h, body)
            h.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    h.send_header(name, value)
            h.send_header("Content-Length", str(max(len(data), 2)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data[: len(data) // 2])
                h.wfile.flush()
            _reset(h)
            return
        raise AssertionError(f"unknown fault {fault}")  # pragma: no cover

    def _upstream_call(self, h: BaseHTTPRequestHandler, body: bytes):
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or h.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            up = getattr(h, "_upstream", None)
            if up is None:
                up = h._upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
                up.connect()
                up.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                up.request(h.command, h.path, body=body, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            except (OSError, http.client.HTTPException):
                up.close()
                h._upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        status, headers, data = self._upstream_call(h, body)
        h.send_response(status)
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in HOP_BY_HOP:
                h.send_header(name, value)
        h.send_header("Content-Length", length if h.command == "HEAD" and length is not None else str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        h.wfile.flush()


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    length = h.headers.get("Content-Length")
    if length is not None:
        return h.rfile.read(int(length))
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(h.rfile.read(size))
            h.rfile.readline()
        return b"".join(parts)
    return b""


def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
    h.wfile.flush()


def _reset(h: BaseHTTPRequestHandler) -> None:
    """Close with RST instead of FIN."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
