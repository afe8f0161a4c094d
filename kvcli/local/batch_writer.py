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
writes them, in its own connection, with the parent's clock, one transaction per chunk. The parent sends each chunk
as soon as it is ready and a reader thread takes the answers in order, so the child never waits for the parent
between chunks: a parent thread that had to get the GIL back to send the next chunk kept the child idle 10-25 % of
the import. With the next chunks already in its pipe, writing several in one transaction gained nothing (0.97x the
official CLI's time for two, 1.00-1.02x for four, 0.91-0.96x for one); a synchronous exchange, one chunk at a time,
was 1.02-1.04x.

The wire between them is private: each request is a 4-byte big-endian header length, a JSON header, the rows JSON
text and the values BLOB; each answer is one JSON line, in the order of the requests.

This process's own write transactions take turns with the child here (:meth:`BatchWriterProcess.exclusive`), not
in SQLite's busy handler, whose growing sleeps let a steady stream of one side's writes keep the other waiting for
seconds. A chunk the child cannot start within 100 ms anyway (another process holds the database) is handed back.

If the child cannot be started, dies, or answers what cannot be read, it is stopped, every chunk it has not
answered is handed back, and :meth:`BatchWriterProcess.write` returns False: the caller writes it in its own
process, as without a child, from then on (a note goes to stderr once). A chunk whose answer was lost may then be
written twice: the same keys and values, with later generations, as if its request had sent it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from kvcli.api.errors import NotFound, StorageError

HEADER_BYTES = 4


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
    """One prepared chunk sent to the child, and what became of it."""

    __slots__ = ("store_id", "count", "now", "text", "values", "answered", "outcome")

    def __init__(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> None:
        self.store_id = store_id
        self.count = count
        self.now = now
        self.text = prepared[0].encode("utf-8", "surrogatepass")
        self.values = prepared[1]
        self.answered = threading.Event()
        #: True: written; None: not written, the caller writes it itself; an exception: raised to the caller
        self.outcome: bool | Exception | None = None


class BatchWriterProcess:
    """The parent's handle on the child: started by :meth:`warm` or the first :meth:`write`, stopped by
    :meth:`close`. Chunks are sent as soon as they are ready and answered in order by a reader thread, so the
    child never waits for this process between chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.requests = Requests()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        # sending, starting and stopping, and this process's own write transactions (exclusive()): the pipe's
        # order is the order of _pending; reentrant, so that nothing that holds it can deadlock on it
        self._lock = threading.RLock()
        self._pending: deque[_Chunk] = deque()  # sent, not answered yet
        self._pending_lock = threading.Lock()
        self._idle = threading.Condition(self._pending_lock)  # notified when _pending becomes empty
        # a frozen build's executable is kvcli itself, which cannot run the child's code: batches stay in-process
        self._broken = bool(getattr(sys, "frozen", False))
        self._closed = False

    @property
    def working(self) -> bool:
        """False once the child has failed or this handle was closed (chunks are then written in-process)."""
        return not (self._broken or self._closed)

    def write(self, store_id: str, count: int, now: float, prepared: tuple[str, bytes]) -> bool:
        """Write one prepared chunk of ``count`` rows into ``store_id`` in the child: True once it is committed,
        False when there is no working child (the caller then writes it itself). Raises NotFound for a store that
        does not exist and StorageError for a failure of the disk, as the engine does."""
        chunk = _Chunk(store_id, count, now, prepared)
        with self._lock:
            if not self.working:
                return False
            try:
                proc = self._proc or self._start()
                with self._pending_lock:
                    if not self.working:  # the reader found the child gone meanwhile
                        return False
                    self._pending.append(chunk)
                assert proc.stdin is not None
                # one write of the whole request, into a pipe widened to hold an ordinary chunk (~1,000 entries of
                # ~100 B); a larger one waits here, lock held, until the child has read it
                proc.stdin.write(_request_bytes(chunk))
                proc.stdin.flush()
            except Exception as exc:  # noqa: BLE001 - any failure to start or to send: write in-process instead
                self._give_up(exc)  # answers every chunk sent and not answered, this one included
                if not chunk.answered.is_set():  # the child could not be started: nothing was sent
                    return False
        chunk.answered.wait()
        if isinstance(chunk.outcome, Exception):
            raise chunk.outcome
        return chunk.outcome is True

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Around this process's own write transactions: no chunk is sent meanwhile, and those sent are answered
        first. The two sides then never meet in SQLite's busy handler, which polls with growing sleeps, so that
        either could wait seconds for the other under a steady load of the other's writes."""
        if self._proc is None:  # no child (read without the lock): nothing to wait for
            yield
            return
        with self._lock:
            with self._idle:
                while self._pending:
                    self._idle.wait()
            yield

    def _read_answers(self, proc: subprocess.Popen[bytes]) -> None:
        """The reader thread: one answer line per chunk, in the order they were sent, until the child ends."""
        assert proc.stdout is not None
        problem: BaseException = EOFError("the batch writer process ended")
        try:
            for line in proc.stdout:
                answer = json.loads(line)
                outcome = _outcome(answer)
                with self._pending_lock:
                    chunk = self._pending.popleft()
                    if not self._pending:
                        self._idle.notify_all()
                chunk.outcome = outcome
                chunk.answered.set()
        except Exception as exc:  # noqa: BLE001 - whatever stops the answers, no caller may be left waiting
            problem = exc
        finally:
            if not self._closed:  # a child that failed may still hold chunks: stopped before they are handed back
                _kill(proc)
            self._fail_pending(problem)

    def _fail_pending(self, problem: BaseException) -> None:
        """No more answers will come: every chunk still waiting is handed back to its caller (outcome None)."""
        with self._pending_lock:
            tell = not self._closed and not self._broken
            self._broken = self._broken or not self._closed
            stranded = list(self._pending)
            self._pending.clear()
            self._idle.notify_all()
        if tell:
            note = f"kvcli local serve: the batch writer process stopped ({problem}); batches are now written"
            print(note + " in-process", file=sys.stderr)
        for chunk in stranded:
            chunk.outcome = None
            chunk.answered.set()

    def warm(self) -> None:
        """Start the child now, without waiting for it to be ready (it opens the database while the first
        batch request is parsed), unless it runs, has failed, or was closed."""
        if self._proc is not None or not self.working:
            return  # read without the lock, which a write may hold while the pipe is full
        with self._lock:
            if self._proc is None and self.working:
                try:
                    self._start()
                except Exception as exc:  # noqa: BLE001 - no child: batches are written in-process
                    self._give_up(exc)

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parent.parent.parent)
        proc = subprocess.Popen(
            # isolated (-I): neither the working directory nor PYTHON* variables decide what the child imports;
            # kvcli's own directory is appended, for a checkout that is not installed
            [sys.executable, "-I", "-c", _BOOT, package_root, str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        _widen_pipe(proc.stdin)
        self._proc = proc
        from kvcli.threads import worker_thread

        reader = worker_thread(lambda: self._read_answers(proc), "kvcli-batch-answers")
        reader.start()
        self._reader = reader  # only once it runs: a thread that never started cannot be joined
        return proc

    def _give_up(self, exc: BaseException) -> None:
        """The child cannot be used (called with the lock held): stopped, then its chunks handed back."""
        if self._proc is not None:
            _kill(self._proc)
        self._fail_pending(exc)
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        reader, self._reader = self._reader, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child writes what it was sent, answers, and ends at the end of its input
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            _kill(proc)
        if reader is not None and reader is not threading.current_thread():
            reader.join()
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        """Stop the child once it has written and answered every chunk sent to it."""
        with self._lock:
            self._closed = True
            self._stop()


#: what the child runs: ``python -I -c _BOOT PACKAGE_ROOT DATABASE``
_BOOT = (
    "import sys; sys.path.append(sys.argv.pop(1)); "
    "from kvcli.local.batch_writer_child import main; raise SystemExit(main(sys.argv))"
)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.kill()
    except OSError:  # pragma: no cover - already reaped
        pass
    proc.wait()


def _request_bytes(chunk: _Chunk) -> bytes:
    """The child's request for ``chunk``: the header's length, the JSON header, the rows text, the values."""
    head = {"store": chunk.store_id, "count": chunk.count, "now": chunk.now, "text": len(chunk.text),
            "values": len(chunk.values)}
    header = json.dumps(head).encode()
    return b"".join((len(header).to_bytes(HEADER_BYTES, "big"), header, chunk.text, chunk.values))


def _outcome(answer: dict[str, Any]) -> bool | Exception | None:
    if "first" in answer:
        return True
    if answer.get("error") == "retry":  # rolled back (e.g. the database stayed locked): written in-process instead
        return None
    if answer.get("error") == "not_found":
        return NotFound(answer["message"], answer.get("hint"))
    return StorageError(answer["message"], answer.get("hint"), storage=answer.get("storage", "io"))


#: the child's input pipe is asked to hold this much (Linux; the default is 64 KiB), so that a chunk of ~1,000
#: ordinary entries is handed over in one write
PIPE_BYTES = 1024 * 1024


def _widen_pipe(stream: IO[bytes] | None) -> None:
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
    except (ImportError, AttributeError, OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size
        pass


