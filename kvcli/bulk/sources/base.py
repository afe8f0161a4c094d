"""The source interface shared by every bulk-input format, plus small I/O helpers."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from kvcli.api.errors import UsageError
from kvcli.bulk.records import Bad, Entry, Record
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    from kvcli.bulk.lines import LineRun

#: the largest single record (one NDJSON line or one JSON element) a source will buffer: a 25 MiB value in base64
#: plus room for key and metadata. Anything bigger is reported as a bad record instead of exhausting memory.
MAX_RECORD_BYTES = 48 * 1024 * 1024


class HugeNumber:
    """A JSON integer with more digits than Python converts (``sys.get_int_max_str_digits()``, 4300 by default),
    kept as its text. Only decoded when a normal decode failed on one; no field accepts it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def digits(self) -> int:
        return len(self.text.lstrip("-"))

    def __repr__(self) -> str:
        return f"<{self.digits}-digit number>"


def _parse_int(text: str):
    try:
        return int(text)
    except ValueError:
        return HugeNumber(text)


#: a decoder that turns integers too long to convert into :class:`HugeNumber` instead of raising ValueError
#: (slower than the default one, which is why it is only a fallback)
TOLERANT_DECODER = json.JSONDecoder(parse_int=_parse_int)


def huge_in(value) -> HugeNumber | None:
    """The first :class:`HugeNumber` inside a decoded JSON value, if any."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, HugeNumber):
            return v
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


class SourceError(UsageError):
    """The input cannot be read any further (missing file, broken JSON document, unknown TOML store)."""


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run may start reading: every record before ``ordinal`` was already processed."""

    ordinal: int
    offset: int | None = None  # byte offset of the first unprocessed record (seekable NDJSON only)
    line: int | None = None  # its line number


class Source:
    """A stream of :class:`Entry` / :class:`Bad` records read from one input.

    Subclasses set ``format`` and ``label`` and implement :meth:`records`. Records are produced lazily, one at a
    time, so memory does not depend on the size of the input.
    """

    format: str = ""
    label: str = ""
    #: total size of the input in bytes when known (for progress and ETA), else None
    total_bytes: int | None = None
    #: True when :meth:`records` can start at a :class:`ResumePoint` byte offset instead of re-reading
    seekable: bool = False
    #: optional human notes gathered while reading (e.g. skipped symlinks); the CLI prints them
    notes: list[str]
    #: keep each entry's batch line when the source has it as read (Entry.wire); only the HTTP sink uses it
    keep_wire: bool = True

    def __init__(self) -> None:
        self.notes = []
        self._position = 0

    def position(self) -> int:
        """Bytes of the input consumed so far (for progress)."""
        return self._position

    def identity(self) -> dict | None:
        """What identifies this exact input for ``--resume`` (None: the input cannot be resumed, e.g. stdin)."""
        return None

    def records(self, start: ResumePoint | None = None) -> Iterator[Record]:
        raise NotImplementedError

    def runs(self, start: ResumePoint | None = None) -> Iterator[Record | LineRun]:
        """:meth:`records`, where a source can give a block of plain batch lines as one
        :class:`~kvcli.bulk.lines.LineRun` (NDJSON does); by default, the records one by one."""
        return self.records(start)

    def __iter__(self) -> Iterator[Record]:
        return self.records()


def file_identity(path: str) -> dict:
    """Path, size and modification time: a changed file is a different input."""
    st = os.stat(path)
    return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def open_input(path: str) -> BinaryIO:
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise SourceError(f"open {path}: no such file or directory", "check the path of the file",
                          reason="file_missing") from None
    except IsADirectoryError:
        raise SourceError(f"{path} is a directory", "import it as a directory to import its files",
                          reason="file_is_dir") from None
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror}", "check the file's permissions") from None


class PrefixedReader(io.RawIOBase):
    """A raw stream that first serves ``head`` (bytes already read, e.g. to detect the format) then ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest
        self._read = getattr(rest, "read1", rest.read)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        # read1: what the pipe has now (at most len(b)), so a live stream is imported as it arrives
        data = self._read(len(b))
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        return n


class CancellableReader(io.RawIOBase):
    """A file descriptor (stdin) read so that a reader thread can be told to give up: it waits for data in short
    ``select`` rounds and raises ``OSError(ECANCELED)`` once ``cancelled`` is set. A thread blocked in a plain read
    of a pipe cannot be stopped, and is still inside the read when the interpreter exits."""

    def __init__(self, fd: int, cancelled, poll: float = 0.1) -> None:
        super().__init__()
        self._fd = fd
        self.cancelled = cancelled  # a threading.Event
        self._poll = poll

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, b) -> int:
        import errno
        import select

        while True:
            if self.cancelled.is_set():
                raise OSError(errno.ECANCELED, "reading the input was stopped")
            ready, _, _ = select.select([self._fd], [], [], self._poll)
            if ready:
                data = os.read(self._fd, len(b))
                n = len(data)
                b[:n] = data
                return n


def cancellable_stdin(stream: BinaryIO, cancelled) -> BinaryIO:
    """``stream`` (stdin's binary buffer) as a :class:`CancellableReader` when it is a real pipe or file that
    ``select`` works on; else ``stream`` itself."""
    if os.name != "posix":
        return stream
    try:
        fd = stream.fileno()
        os.fstat(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream
    # nothing has read stdin before an import, so its buffer is empty and the descriptor can be read directly
    return io.BufferedReader(CancellableReader(fd, cancelled), buffer_size=1 << 20)


def read_head(fh: BinaryIO, size: int = 64 * 1024) -> tuple[bytes, BinaryIO]:
    """Read up to ``size`` bytes for format detection; return them and a stream that still yields everything."""
    head = b""
    while len(head) < size:
        chunk = fh.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head, io.BufferedReader(PrefixedReader(head, fh), buffer_size=1 << 20)


def entry_from_text(key: str, text: str, **fields) -> Entry | Bad:
    """An entry whose value is text (encoded as UTF-8)."""
    try:
        value = text.encode("utf-8")
    except UnicodeEncodeError:
        return Bad(
            "value is not valid Unicode text (it contains a lone surrogate escape)",
            fields["file"], fields.get("line"), fields["ordinal"], key=key, code="invalid_value",
        )
    return Entry(key, value, **fields)


# ------------------------------------------------------------------------------------------- Go-compatible JSON
def go_json(value) -> str:
    """``json.Marshal`` output of Go for a decoded JSON value (what ``fastly compute deploy`` stores for non-strings).

    Go sorts object keys, writes no spaces, prints integral floats without ``.0`` and escapes ``<``, ``>``, ``&``,
    U+2028 and U+2029.
    """
    text = json.dumps(_go_numbers(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _go_numbers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    return value


def file_entry(label: str, base_dir: str | None, key: str, ref, metadata: str | None, line: int | None):
    """An entry whose value is the bytes of a file named in the input (read lazily, when its batch is built).

    Relative paths are resolved against ``base_dir`` (the directory of the fastly.toml that names them), or the
    working directory, as Viceroy does, when there is none.
    """
    import stat

    if not isinstance(ref, str) or not ref:
        return Bad("\"file\" must be a path string", label, line, 0, key=key, code="invalid_value")
    path = ref if os.path.isabs(ref) or base_dir is None else os.path.join(base_dir, ref)
    try:
        st = os.stat(path)
    except OSError as exc:
        return Bad(f"cannot read file {ref!r}: {exc.strerror}", label, line, 0, key=key, code="unreadable")
    if not stat.S_ISREG(st.st_mode):
        return Bad(f"{ref!r} is not a regular file", label, line, 0, key=key, code="unreadable")
    return Entry(key, None, metadata, None, False, label, line, 0, path=path, size=st.st_size)
