"""A child process that runs the SQL of ``local serve``'s overlapping batch writes (:class:`BatchWriterProcess`).

Why a process: a batch chunk's SQL (the generation reservation, one ``INSERT … SELECT FROM json_each`` and the
COMMIT) releases the GIL while SQLite works, and needs it back between statements. When several batch requests
overlap, the server's other threads hold the GIL to parse their bodies, and the writer, which holds the database's
write lock, waits for it after every statement: measured on a 100,000-entry import with four requests in flight,
the lock was held 0.60-0.74 s for 0.36-0.40 s of SQL, so overlapping requests gained little over one after another.
In a process of its own the SQL never waits for this process's GIL, and the parsing of the next chunks overlaps it.

Only overlapping requests use it (:meth:`kvcli.local.engine.Engine.batch_request` counts them): a lone request,
such as the official CLI's one streamed batch, is written in-process, where the child would only add a hand-over
and two wake-ups per chunk (6 % on that import, measured).

The parent parses, validates and prepares the rows (:func:`kvcli.local.engine_batch.prepare_rows`); the child only
writes them, in its own connection, with the parent's clock, while the parent holds the engine's write lock (so this
process's other writers wait for it in that lock, never in SQLite's sleeping busy handler). Chunks waiting for the
lock are sent together, at most GROUP_CHUNKS of them, and written in one transaction. Two was best measured: 0.98-
0.99x the official CLI's time against 1.02-1.04x for one, 1.01-1.04x for three and 1.08-1.11x for eight, as larger
groups make requests finish together, come back together and parse together while the child waits.

The wire between them is private: each request is a 4-byte big-endian header length, a JSON header (one object per
chunk), then each chunk's rows JSON text and values BLOB; each answer is one JSON line.

If the child cannot be started, or dies, :meth:`BatchWriterProcess.write` returns False and the caller writes in its
own process, as without a child, from then on (a note goes to stderr once). A chunk whose answer was lost may then
be written twice: the same keys and values, with later generations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from kvcli.api.errors import NotFound, StorageError

HEADER_BYTES = 4
#: a group sent to the child holds at most this many chunks and (beyond its first chunk) this many bytes (see above)
GROUP_CHUNKS = 2
GROUP_BYTES = 16 * 1024 * 1024


class Requests:
    """How many batch requests are in progress (the engine writes in the child only while they overlap)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.count += 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


class _Chunk:
    """One prepared chunk waiting to be written, and what became of it."""

    __slots__ = ("store_id", "count", "now", "text", "values", "done", "outcome")

    def __init__(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> None:
        self.store_id = store_id
        self.count = count
        self.now = now
        self.text = prepared[0].encode("utf-8", "surrogatepass")
        self.values = prepared[1]
        self.done = False
        #: True: written; None: not written, the caller writes it itself; an exception: raised to the caller
        self.outcome: bool | Exception | None = None


class BatchWriterProcess:
    """The parent's handle on the child: started by :meth:`warm` or the first :meth:`write`, stopped by
    :meth:`close`. ``write_lock`` is the engine's: the child writes while this process's writers wait for it."""

    def __init__(self, path: Path, write_lock: AbstractContextManager[Any]) -> None:
        self.path = path
        self.requests = Requests()
        self._write_lock = write_lock
        self._queue: list[_Chunk] = []
        self._queue_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # starting and stopping the child
        self._broken = False
        self._closed = False

    @property
    def working(self) -> bool:
        """False once the child has failed or this handle was closed (chunks are then written in-process)."""
        return not (self._broken or self._closed)

    def write(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> bool:
        """Write one prepared chunk of ``count`` rows into ``store_id`` in the child: True once it is committed,
        False when there is no working child (the caller then writes it itself). Raises NotFound for a store that
        does not exist and StorageError for a failure of the disk, as the engine does.

        Group commit: chunks that arrive while the child is busy wait for the write lock; whichever thread gets it
        sends every waiting chunk (up to GROUP_CHUNKS and GROUP_BYTES) as one request, which the child writes in
        one transaction (one COMMIT and one fsync for the group, one hand-over each way)."""
        chunk = _Chunk(store_id, count, now, prepared)
        with self._queue_lock:
            self._queue.append(chunk)
        with self._write_lock:
            while not chunk.done:
                self._run(self._take_group())
        if isinstance(chunk.outcome, Exception):
            raise chunk.outcome
        return chunk.outcome is True

    def _take_group(self) -> list[_Chunk]:
        with self._queue_lock:
            size, n = 0, 0
            for n, waiting in enumerate(self._queue, 1):  # noqa: B007 - n is used after the loop
                size += len(waiting.text) + len(waiting.values)
                if n >= GROUP_CHUNKS or size >= GROUP_BYTES:
                    break
            group, self._queue = self._queue[:n], self._queue[n:]
        return group

    def _run(self, group: list[_Chunk]) -> None:
        """Send ``group`` to the child and record each chunk's outcome (None for all when the child fails)."""
        answers: list[dict[str, Any]] | None = None
        with self._lock:
            if not self._broken and not self._closed:
                try:
                    answers = self._exchange(self._proc or self._start(), group)
                except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
                    self._give_up(exc)
        for i, chunk in enumerate(group):
            chunk.outcome = None if answers is None else _outcome(answers[i])
            chunk.done = True

    @staticmethod
    def _exchange(proc: subprocess.Popen[bytes], group: list[_Chunk]) -> list[dict[str, Any]]:
        assert proc.stdin is not None and proc.stdout is not None
        # one write of the whole request, into a pipe made large enough to hold it: each wait for the child to
        # read would give up the GIL, and getting it back can take a switch interval
        proc.stdin.write(_request_bytes(group))
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise EOFError("the batch writer process ended")
        answer = json.loads(line)
        if "error" in answer:  # the group's transaction failed as a whole: each chunk gets the error
            return [answer] * len(group)
        results = answer["results"]
        if len(results) != len(group):
            raise ValueError("the batch writer answered for a different number of chunks")
        return results

    def warm(self) -> None:
        """Start the child now, without waiting for it to be ready (it opens the database while the first
        batch request is parsed), unless it runs, has failed, or was closed."""
        if self._proc is not None or self._broken or self._closed:
            return  # read without the lock, which a write holds while the child works
        with self._lock:
            if self._proc is None and not self._broken and not self._closed:
                try:
                    self._start()
                except OSError as exc:
                    self._give_up(exc)

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kvcli.local.batch_writer_child", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        _widen_pipe(self._proc.stdin)
        return self._proc

    def _give_up(self, exc: BaseException) -> None:
        self._broken = True
        note = f"kvcli local serve: the batch writer process stopped ({exc}); batches are now written in-process"
        print(note, file=sys.stderr)
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child ends at the end of its input, after the chunk it is writing
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()


#: the child's input pipe is asked to hold this much (Linux; the default is 64 KiB), so that a chunk of ~1,000
#: ordinary entries is handed over in one write
PIPE_BYTES = 1024 * 1024


def _widen_pipe(stream: IO[bytes] | None) -> None:
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
    except (ImportError, AttributeError, OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size
        pass


def _request_bytes(group: list[_Chunk]) -> bytes:
    """The child's request for ``group``: header length, JSON header, then each chunk's rows text and values."""
    head = [{"store": c.store_id, "count": c.count, "now": c.now, "text": len(c.text), "values": len(c.values)}
            for c in group]
    header = json.dumps(head).encode()
    parts = [len(header).to_bytes(HEADER_BYTES, "big"), header]
    for c in group:
        parts += (c.text, c.values)
    return b"".join(parts)


def _outcome(answer: dict[str, Any]) -> bool | Exception:
    if "first" in answer:
        return True
    if answer.get("error") == "not_found":
        return NotFound(answer["message"], answer.get("hint"))
    return StorageError(answer["message"], answer.get("hint"), storage=answer.get("storage", "io"))
