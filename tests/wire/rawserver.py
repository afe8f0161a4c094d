"""A raw-socket HTTP server for client tests: it records each request's bytes as they arrived and answers with exactly
the bytes a test gives (or acts: closes, drips, stalls), so both of kvcli's HTTP sessions can be compared on the wire.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSE = b""  # as an answer: close the connection without answering


def read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The next request on ``conn`` after what ``buffer`` already holds: (head without its blank line, body by its
    Content-Length, what arrived beyond it); None when the client closed first."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buffer) < length:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    return head, buffer[:length], buffer[length:]


@dataclass
class Seen:
    raw: bytes  # head and body
    connection: int  # which accepted connection (0, 1, ...) carried it

    @property
    def head(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[0]

    @property
    def body(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[1]


@dataclass
class RawServer:
    """``answer(seen, index)`` gives bytes to send (b"" = close at once), or a callable that gets the socket and does
    the rest itself (return True to keep serving that connection). After bytes, the connection stays open for the
    next request unless ``close_after`` says otherwise."""

    answer: Callable[[Seen, int], object]
    tls: ssl.SSLContext | None = None
    close_after: bool = False
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: threading.Event = field(default_factory=threading.Event)
    alpn: list[str] = field(default_factory=list)  # the protocols TLS negotiated, one per connection
    host: str = "127.0.0.1"  # another loopback address, or ::1

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def stop(self) -> None:
        self._stop = True
        self.sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            number = self.connections
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused the certificate
                self.alpn.append(conn.selected_alpn_protocol() or "")
            buffer = b""
            while True:
                request = read_request(conn, buffer)
                if request is None:
                    return
                head, body, buffer = request
                seen = Seen(head + b"\r\n\r\n" + body, number)
                self.seen.append(seen)
                reply = self.answer(seen, len(self.seen) - 1)
                if callable(reply):
                    if not reply(conn):
                        return
                    continue
                assert isinstance(reply, bytes)
                if not reply:
                    return
                conn.sendall(reply)
                if self.close_after:
                    return
        except OSError:
            return
        finally:
            conn.close()
            self.closed.set()


def response(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None, reason: str = "OK",
             length: bool = True) -> bytes:  # fmt: skip
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def drip(head: bytes, every: float = 0.05) -> Callable[[socket.socket], bool]:
    """Send ``head`` then one byte of body every ``every`` seconds until the client goes away."""

    def act(conn: socket.socket) -> bool:
        conn.sendall(head)
        while True:
            time.sleep(every)
            try:
                conn.sendall(b"x")
            except OSError:
                return False

    return act
