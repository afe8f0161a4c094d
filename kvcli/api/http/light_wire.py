"""HTTP/1.1 on one socket, as httpcore + h11 speak it: the light session's connection (see :mod:`kvcli.api.http.light`).

Each behaviour copies httpcore 1.0's sync backend and h11 0.16, with their messages: a socket read of at most 64 KiB,
each read and write bounded by the connect/read/write timeout and by what is left of the attempt
(:mod:`kvcli.api.http.deadline`), a response head of at most 100 KiB, 1xx answers skipped, the body framed by
HEAD/204/304, ``Transfer-Encoding: chunked``, ``Content-Length`` or the connection's end.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

from kvcli.api.http.deadline import bounded
from kvcli.api.http.session import SendFailure

READ_NUM_BYTES = 64 * 1024  # httpcore's HTTP11Connection.READ_NUM_BYTES
MAX_HEAD = 100 * 1024  # httpcore's MAX_INCOMPLETE_EVENT_SIZE
_STATUS = re.compile(rb"HTTP/(?P<v>[0-9]\.[0-9]) (?P<status>[0-9]{3})(?: (?P<reason>(?:[ \t]|[^\x00\s])*))?")
_FIELD = re.compile(
    rb"(?P<name>[-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*(?P<value>(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*"
)
_CHUNK = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
_LENGTH = re.compile(rb"[0-9]+")
_BLANK = re.compile(rb"\n\r?\n")


def _remote(message: str) -> SendFailure:
    return SendFailure("RemoteProtocolError", message)


def _oserror(kind_timeout: str, kind_error: str, exc: OSError) -> SendFailure:
    failure = SendFailure(kind_timeout if isinstance(exc, TimeoutError) else kind_error, str(exc))
    failure.__cause__ = exc
    return failure


class Connection:
    """One TCP (or TLS) connection. Not thread-safe: the session hands it to one request at a time."""

    def __init__(self, sock: Any, idle_since: float = 0.0) -> None:
        self.sock = sock
        self.buffer = b""
        self.idle_since = idle_since
        self.closed = False

    @classmethod
    def open(
        cls, host: str, port: int, timeout: float | None, tls: Any = None, server_hostname: str = ""
    ) -> Connection:
        """As httpcore's SyncBackend.connect_tcp (then start_tls): a timeout is ConnectTimeout, any other OSError
        (a refused connection, a certificate that does not verify) ConnectError, with the OS's words."""
        try:
            # an ASCII name goes to getaddrinfo as bytes, as the idna codec would give it (a str host makes Python
            # import that codec and its Unicode tables, ~2 ms of a command's start-up)
            # (getaddrinfo takes bytes on every platform; typeshed's create_connection says str only)
            name = host.encode("ascii") if host.isascii() else host
            sock = socket.create_connection((name, port), timeout)  # type: ignore[arg-type]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise _oserror("ConnectTimeout", "ConnectError", exc) from exc
        if tls is not None:
            try:
                sock.settimeout(timeout)
                sock = tls.wrap_socket(sock, server_hostname=server_hostname)
            except OSError as exc:
                sock.close()
                raise _oserror("ConnectTimeout", "ConnectError", exc) from exc
        return cls(sock)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:  # pragma: no cover - closing never matters
                pass

    def readable(self) -> bool:
        """Whether the idle connection has something to read: the server closed it (or broke the protocol)."""
        import select

        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    # ---------------------------------------------------------------------------------------------- socket ops
    def write(self, data: bytes, timeout: float | None) -> None:
        if not data:
            return
        limit, attempt = bounded(timeout)
        if attempt is not None and attempt.expired:
            raise SendFailure("WriteTimeout", "the attempt's time limit passed")
        try:
            while data:
                self.sock.settimeout(limit)
                n = self.sock.send(data)
                data = data[n:]
        except OSError as exc:
            if isinstance(exc, TimeoutError) and attempt is not None and limit != timeout:
                attempt.expired = True
            raise _oserror("WriteTimeout", "WriteError", exc) from exc

    def read(self, timeout: float | None) -> bytes:
        limit, attempt = bounded(timeout)
        if attempt is not None and attempt.expired:
            raise SendFailure("ReadTimeout", "the attempt's time limit passed")
        try:
            self.sock.settimeout(limit)
            return self.sock.recv(READ_NUM_BYTES)
        except OSError as exc:
            if isinstance(exc, TimeoutError) and attempt is not None and limit != timeout:
                attempt.expired = True
            raise _oserror("ReadTimeout", "ReadError", exc) from exc

    # ------------------------------------------------------------------------------------------------ response
    def read_head(self, timeout: float | None) -> tuple[str, int, bytes, list[tuple[bytes, bytes]]]:
        """(HTTP version, status, reason, headers) of the next final response (1xx skipped, 101 refused)."""
        while True:
            searched = 0  # where the blank line may start: each byte is searched once however slowly it arrives
            while True:
                found = _BLANK.search(self.buffer, searched)
                if found is not None:
                    break
                searched = max(0, len(self.buffer) - 2)
                if len(self.buffer) > MAX_HEAD:
                    raise _remote("Receive buffer too long")
                data = self.read(timeout)
                if not data:  # httpcore's words for an end before (or inside) the response head
                    raise _remote("Server disconnected without sending a response.")
                self.buffer += data
            head, self.buffer = self.buffer[: found.start()], self.buffer[found.end():]
            lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
            status = _STATUS.fullmatch(lines[0])
            if status is None:
                raise _remote(f"illegal status line: {bytearray(lines[0])!r}")  # h11 words it on a bytearray
            headers: list[tuple[bytes, bytes]] = []
            for line in lines[1:]:
                if line[:1] in (b" ", b"\t") and headers:  # obs-fold, as h11 joins it
                    name, value = headers[-1]
                    headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" \t"))
                    continue
                field = _FIELD.fullmatch(line)
                if field is None:
                    raise _remote(f"illegal header line: {bytearray(line)!r}")
                headers.append((field["name"], field["value"]))
            code = int(status["status"])
            if code == 101:  # h11's words: kvcli never proposes an upgrade
                raise _remote("Received server _SWITCH_UPGRADE event without a pending proposal")
            if code < 200:
                continue
            return status["v"].decode(), code, status["reason"] or b"", _checked(headers)

    def body(self, framing: str, length: int, timeout: float | None) -> Iterator[bytes]:
        """The body's pieces as they arrive; framing "length" (``length`` bytes), "chunked" or "close"."""
        if framing == "length":
            received = 0
            while received < length:
                if not self.buffer:
                    data = self.read(timeout)
                    if not data:
                        raise _remote("peer closed connection without sending complete message body "
                                      f"(received {received} bytes, expected {length})")  # fmt: skip
                    self.buffer = data
                piece, self.buffer = self.buffer[: length - received], self.buffer[length - received:]
                received += len(piece)
                yield piece
        elif framing == "chunked":
            yield from self._chunks(timeout)
        else:
            if self.buffer:
                yield self.buffer
                self.buffer = b""
            while data := self.read(timeout):
                yield data

    def _fill(self, timeout: float | None, need: bytes | int) -> None:
        """Read until the buffer holds ``need`` (bytes: a line's end, refused past httpcore's 100 KiB as h11 refuses
        any incomplete event that long; int: that many bytes)."""
        searched = 0
        while True:
            if isinstance(need, int):
                if len(self.buffer) >= need:
                    return
            elif self.buffer.find(need, searched) >= 0:
                return
            else:
                searched = max(0, len(self.buffer) - len(need) + 1)
                if len(self.buffer) > MAX_HEAD:
                    raise _remote("Receive buffer too long")
            self._more_of_chunked(timeout)

    def _more_of_chunked(self, timeout: float | None) -> None:
        """Append the next read to the buffer; the peer closing inside a chunked body is h11's protocol error."""
        data = self.read(timeout)
        if not data:
            raise _remote("peer closed connection without sending complete message body (incomplete chunked read)")
        self.buffer += data

    def _chunks(self, timeout: float | None) -> Iterator[bytes]:
        while True:
            self._fill(timeout, b"\r\n")
            end = self.buffer.index(b"\r\n") + 2
            header = _CHUNK.fullmatch(self.buffer[:end])
            if header is None:
                raise _remote(f"illegal chunk header: {bytearray(self.buffer[:end])!r}")
            self.buffer = self.buffer[end:]
            size = int(header["size"], 16)
            if size == 0:
                self._trailers(timeout)
                return
            while size:
                if not self.buffer:
                    self._fill(timeout, 1)
                piece, self.buffer = self.buffer[:size], self.buffer[size:]
                size -= len(piece)
                yield piece
            need = b"\r\n"
            while need:  # h11 compares what has arrived of the footer
                self._fill(timeout, 1)
                data = self.buffer[: len(need)]
                if data != need[: len(data)]:
                    raise _remote(f"malformed chunk footer: {bytearray(data)!r} (expected {need!r})")
                self.buffer, need = self.buffer[len(data):], need[len(data):]

    def _trailers(self, timeout: float | None) -> None:
        """Skip the trailer fields up to the blank line, read whole and checked as h11 reads them (at most 100 KiB)."""
        searched = 0
        while not self.buffer.startswith((b"\n", b"\r\n")):
            found = _BLANK.search(self.buffer, searched)
            if found is not None:
                for line in self.buffer[: found.start()].split(b"\n"):
                    line = line[:-1] if line.endswith(b"\r") else line
                    if _FIELD.fullmatch(line) is None and line[:1] not in (b" ", b"\t"):
                        raise _remote(f"illegal header line: {bytearray(line)!r}")
                self.buffer = self.buffer[found.end():]
                return
            searched = max(0, len(self.buffer) - 2)
            if len(self.buffer) > MAX_HEAD:
                raise _remote("Receive buffer too long")
            self._more_of_chunked(timeout)
        self.buffer = self.buffer[1 if self.buffer.startswith(b"\n") else 2:]


def _checked(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """h11's checks of a received head: one Content-Length, digits only; Transfer-Encoding only "chunked"."""
    seen_length: bytes | None = None
    saw_te = False
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            lengths = {length.strip() for length in value.split(b",")}
            if len(lengths) != 1:
                raise _remote("conflicting Content-Length headers")
            one = lengths.pop()
            if not _LENGTH.fullmatch(one) or len(one) > 20:
                raise _remote("bad Content-Length")
            if seen_length is not None and seen_length != one:
                raise _remote("conflicting Content-Length headers")
            seen_length = one
        elif lower == b"transfer-encoding":
            if saw_te:
                raise _remote("multiple Transfer-Encoding headers")
            if value.lower() != b"chunked":
                raise _remote("Only Transfer-Encoding: chunked is supported")
            saw_te = True
    return headers


def framing(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[str, int]:
    """How the body ends, as h11's _body_framing decides."""
    if status in (204, 304) or method == "HEAD":
        return "length", 0
    lowered = {name.lower(): value for name, value in headers}
    if b"transfer-encoding" in lowered:
        return "chunked", 0
    if b"content-length" in lowered:
        return "length", int(lowered[b"content-length"].split(b",")[0].strip())
    return "close", 0


def keeps_alive(version: str, headers: list[tuple[bytes, bytes]], framed: str) -> bool:
    """Whether the connection may carry the next request (h11: HTTP/1.1, no "Connection: close", a framed body; and,
    unlike h11, not both Transfer-Encoding and Content-Length: RFC 9112 treats that as smuggling or splitting)."""
    if version != "1.1" or framed == "close":
        return False
    names = {name.lower() for name, _ in headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        return False
    for name, value in headers:
        if name.lower() == b"connection" and b"close" in [v.strip().lower() for v in value.split(b",")]:
            return False
    return True
