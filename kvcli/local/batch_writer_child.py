"""The batch writer process itself: ``python -m kvcli.local.batch_writer_child DATABASE`` (started by
:class:`kvcli.local.batch_writer.BatchWriterProcess`, which describes why it exists and the wire between them).
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from kvcli.api.errors import NotFound, StorageError
from kvcli.local.batch_writer import HEADER_BYTES
from kvcli.local.engine import Engine
from kvcli.local.engine_batch import insert_rows


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _serve(path: str, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child's loop: one group of chunks at a time, each group in one transaction, until the parent closes
    its input. A chunk for a store that does not exist is answered not_found and the others are written; a
    failure of the transaction fails the whole group (nothing of it is written)."""
    engine = Engine(path)
    now = 0.0
    engine.clock = lambda: now  # the parent's clock, chunk by chunk: a test's movable clock holds here too
    try:
        while True:
            first_bytes = stdin.read(HEADER_BYTES)
            if not first_bytes:
                return
            chunks = json.loads(_read_exactly(stdin, int.from_bytes(first_bytes, "big")))
            payloads = [
                (_read_exactly(stdin, c["text"]).decode("utf-8", "surrogatepass"), _read_exactly(stdin, c["values"]))
                for c in chunks
            ]
            answer: dict[str, Any]
            try:
                results: list[dict[str, Any]] = []
                with engine.write() as conn:
                    for c, prepared in zip(chunks, payloads, strict=True):
                        now = float(c["now"])
                        try:
                            first = engine._next_generations_in_store(conn, c["store"], c["count"])
                        except NotFound as exc:  # nothing was reserved or written for it
                            results.append({"error": "not_found", "message": exc.message, "hint": exc.hint})
                            continue
                        insert_rows(conn, c["store"], (), first, now, prepared)
                        results.append({"first": first})
                answer = {"results": results}
            except StorageError as exc:
                answer = {"error": "storage", "message": exc.message, "hint": exc.hint, "storage": exc.storage}
            except Exception as exc:  # noqa: BLE001 - the parent must get an answer, not a dead pipe
                answer = {"error": "storage", "message": f"batch write failed: {type(exc).__name__}: {exc}"}
            stdout.write(json.dumps(answer).encode() + b"\n")
            stdout.flush()
    finally:
        engine.close()


def main(argv: list[str]) -> int:
    import signal

    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then closes this one's input
    try:
        _serve(argv[1], sys.stdin.buffer, sys.stdout.buffer)
    except EOFError:  # the parent went away in the middle of a request: nothing of it was written
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, no traceback; the parent then writes in-process
        print(f"kvcli local serve: the batch writer process cannot run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
