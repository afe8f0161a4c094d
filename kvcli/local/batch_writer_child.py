"""The batch writer process itself: :func:`main` with the database's path (started isolated by
:class:`kvcli.local.batch_writer.BatchWriterProcess`, which describes why it exists and the wire between them).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from kvcli.api.errors import NotFound, StorageError
from kvcli.local.batch_writer import HEADER_BYTES
from kvcli.local.engine import Engine

#: what one read of the input asks for (the parent's pipe holds up to 1 MiB)
READ_BYTES = 1024 * 1024
#: how long the child waits for the database's write lock before it hands a chunk back to the parent
BUSY_TIMEOUT_MS = 100


Request = tuple[dict[str, Any], str, bytes]  # the header, the rows text, the values


def _request(buffer: bytearray) -> tuple[Request | None, int]:
    """The complete request at the start of ``buffer`` and the bytes it takes, or (None, 0)."""
    if len(buffer) < HEADER_BYTES:
        return None, 0
    size = int.from_bytes(buffer[:HEADER_BYTES], "big")
    if len(buffer) < HEADER_BYTES + size:
        return None, 0
    header = json.loads(bytes(buffer[HEADER_BYTES : HEADER_BYTES + size]))
    start = HEADER_BYTES + size
    end = start + header["text"] + header["values"]
    if len(buffer) < end:
        return None, 0
    text = bytes(buffer[start : start + header["text"]]).decode("utf-8", "surrogatepass")
    return (header, text, bytes(buffer[start + header["text"] : end])), end


def _write(engine: Engine, request: Request, clock: list[float]) -> dict[str, Any]:
    """One chunk in one transaction, written as the engine writes a batch chunk in-process."""
    header, text, values = request
    clock[0] = float(header["now"])
    try:
        first = engine.write_rows(header["store"], header["count"], (), clock[0], (text, values))
    except NotFound as exc:  # nothing was reserved or written
        return {"error": "not_found", "message": exc.message, "hint": exc.hint}
    except StorageError as exc:  # the disk: the caller's request fails as it would in-process
        return {"error": "storage", "message": exc.message, "hint": exc.hint, "storage": exc.storage}
    except Exception as exc:  # noqa: BLE001 - rolled back (the database stayed locked, ...): the parent writes it
        return {"error": "retry", "message": f"{type(exc).__name__}: {exc}"}
    return {"first": first}


def _open(path: str) -> Engine:
    """The child's engine: a short busy timeout, as a chunk it cannot start at once is better written by the
    parent, where this process's writes are not waiting for it."""
    engine = Engine(path)
    engine.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return engine


def _serve(path: str, read: Callable[[int], bytes], stdout: IO[bytes]) -> None:
    """The child's loop until the parent closes its input: each chunk in its own transaction, answered with one
    line, in the order the chunks came. The next chunks wait in the pipe meanwhile."""
    engine = _open(path)
    clock = [0.0]
    engine.clock = lambda: clock[0]  # the parent's clock, chunk by chunk: a test's movable clock holds here too
    buffer = bytearray()
    try:
        while True:
            request, used = _request(buffer)
            if request is None:
                data = read(READ_BYTES)
                if not data:
                    if buffer:
                        raise EOFError("the input ended inside a request")
                    return
                buffer += data
                continue
            del buffer[:used]
            stdout.write(json.dumps(_write(engine, request, clock)).encode() + b"\n")
            stdout.flush()
    finally:
        engine.close()


def main(argv: list[str]) -> int:
    import signal

    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then closes this one's input
    try:
        _serve(argv[1], functools.partial(os.read, sys.stdin.fileno()), sys.stdout.buffer)
    except EOFError:  # the parent went away in the middle of a request: nothing of it was written
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, no traceback; the parent then writes in-process
        print(f"kvcli local serve: the batch writer process cannot run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
