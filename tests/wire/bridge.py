"""Run the httpx.MockTransport tests on the light session too: a handler served on a real socket.

The client tests (test_http_client, test_http_limits, test_http_kv) script their server as a MockTransport handler
(an ``httpx.Request`` in, an ``httpx.Response`` out). With the ``http_session`` fixture at "light" the same handler is
served by :class:`Bridge` on 127.0.0.1:7676 (the URL those tests use): each request the light session sends is parsed
back into an ``httpx.Request`` (so the tests check the bytes it sent), and each answer is written back as HTTP/1.1
bytes (``Content-Length`` when the response has one, else chunked, as it streams). A handler that raises (a scripted
network failure) makes the bridge drop the connection; tests whose point is the kind of failure raised inside the
transport name themselves in their module's ``HTTPX_ONLY``, and tests/wire/test_light_session.py covers those on
real sockets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import httpx

from tests.wire.rawserver import read_request

PORT = 7676


class Bridge:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", PORT))  # OSError when the port is taken: the caller skips
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                request = read_request(conn, buffer)
                if request is None:
                    return
                head, body, buffer = request
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(b":") for line in lines[1:])]
                request = httpx.Request(method.decode(), f"http://127.0.0.1:{PORT}" + target.decode("ascii"),
                                        headers=headers, content=body)  # fmt: skip
                try:
                    response = self.handler(request)
                except Exception:  # noqa: BLE001 - a scripted network failure: drop the connection
                    return
                if not self._answer(conn, method, response):
                    return
        except OSError:
            return
        finally:
            conn.close()

    @staticmethod
    def _answer(conn: socket.socket, method: bytes, response: httpx.Response) -> bool:
        fields = [(n, v) for n, v in response.headers.raw]
        framed = any(n.lower() in (b"content-length", b"transfer-encoding") for n, _ in fields)
        bodyless = method == b"HEAD" or response.status_code in (204, 304)
        if not framed and not bodyless:
            fields.append((b"Transfer-Encoding", b"chunked"))
        head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
        conn.sendall(head + b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n")
        if bodyless:
            return True
        try:
            for chunk in response.stream:  # type: ignore[union-attr]
                if chunk:
                    conn.sendall(chunk if framed else b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except Exception:  # noqa: BLE001 - the body's scripted failure: the connection ends mid-body
            return False
        if not framed:
            conn.sendall(b"0\r\n\r\n")
        return True
