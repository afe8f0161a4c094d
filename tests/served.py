"""`kvcli local serve` in a subprocess, for tests that need a real socket.

It listens on a free 127.0.0.1 port (``--port 0``); the URL is read from its stdout, and its stderr goes to a file
(never an unread pipe, which a chatty server such as one with ``--access-log`` could fill and block on).
"""

from __future__ import annotations

import select
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import subprocess_env


class LocalServe:
    def __init__(
        self,
        data_dir: Path,
        *args: str,
        token: str | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.token = token
        self.err_path = data_dir.parent / f"serve-{uuid.uuid4().hex[:8]}.err"
        self.err_file = self.err_path.open("wb")
        argv = [sys.executable, "-m", "kvcli", "local", "serve", "--port", "0", "--data-dir", str(data_dir)]
        if token is not None:
            argv += ["--token", token]
        self.proc = subprocess.Popen(
            argv + list(args),
            env=subprocess_env(env),
            stdout=subprocess.PIPE,
            stderr=self.err_file,
            preexec_fn=preexec_fn,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"kvcli local serve did not start: {line!r} {self.stderr()[-2000:]}")
        self.url = line.strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stderr(self) -> str:
        self.err_file.flush()
        return self.err_path.read_text(errors="replace")

    def signal(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err_file.close()


@contextmanager
def serving_a_store(root: Path, items: dict[str, bytes] | None = None) -> Iterator[tuple[LocalServe, Any, str]]:
    """A ``kvcli local serve`` over a new data directory under ``root`` holding one store ("busy") with ``items``,
    with a long read timeout (uploads the test stalls on purpose stay open): (server, engine, store id)."""
    from kvcli.local.engine import Engine

    data = root / "data"
    engine = Engine.in_dir(data)
    sid = engine.create_store("busy").id
    for key, value in (items or {}).items():
        engine.put_item(sid, key, value)
    server = LocalServe(data, env={"KVCLI_SERVE_READ_TIMEOUT": "600"})
    try:
        yield server, engine, sid
    finally:
        server.stop()
        engine.close()
