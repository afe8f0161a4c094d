"""The contract suite: the same behaviour tests, at the API port, against every adapter.

``api`` is parametrized over ``local`` (the embedded engine in-process) and ``http`` (kvcli's HTTP adapter talking to
``kvcli local serve`` on a free 127.0.0.1 port). A difference between the two is a bug.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import subprocess_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedBackend:
    """`kvcli local serve` in a subprocess, on a free loopback port, with its own data directory."""

    def __init__(self, data_dir: Path, token: str = "contract-token") -> None:
        self.port = free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kvcli", "local", "serve", "--port", str(self.port), "--data-dir", str(data_dir),
             "--token", token],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise RuntimeError(f"kvcli local serve exited early: {err.decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("kvcli local serve did not start within 20 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")
    backend = ServedBackend(tmp_path_factory.mktemp("served-data"))
    yield backend
    backend.stop()


@pytest.fixture(params=["local", "http"])
def api(request, isolated):
    if request.param == "local":
        from kvcli.api.local import LocalAdapter

        adapter = LocalAdapter.open(isolated["data"])
    else:
        pytest.importorskip("kvcli.api.http", reason="the HTTP adapter is not built yet")
        from kvcli.api.http import HttpAdapter

        backend = request.getfixturevalue("served")
        adapter = HttpAdapter(backend.url, backend.token)
    yield adapter
    adapter.close()


@pytest.fixture
def store(api):
    """A fresh store with a unique name (the served backend is shared by the whole session)."""
    s = api.create_store(f"contract-{uuid.uuid4().hex[:12]}")
    return s
