"""Shared fixtures for the conformance tests: clients nobody here wrote, driven against `kvcli local serve`.

* The official Fastly CLI binary: ``$KVCLI_FASTLY_BIN``, else ``.tools/node_modules/@fastly/cli-<platform>/fastly``
  in the checkout (where ``.ci/run`` and README's one-time ``npm install --prefix .tools`` put it). Missing: the CLI
  tests skip, unless ``KVCLI_REQUIRE_CONFORMANCE=1`` makes that a failure.
* The official Python client ``fastly`` (PyPI; a test dependency).

The server is a real ``kvcli local serve --port 0`` subprocess on 127.0.0.1 with a token and an access log (so tests can
check what the clients actually sent); server state is checked through the engine on the same data directory.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from kvcli.local.engine import Engine
from tests.served import LocalServe

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "conformance-token"


# The official CLI checks for a newer release on every run (GET https://developer.fastly.com/..., see
# shared/reference/fastly-cli.md): send that to a closed loopback port, so a test run never leaves this machine.
# Go never proxies loopback addresses, so the API calls to the local server go straight to it.
OFFLINE_PROXY = "http://127.0.0.1:9"


def official_env(home: Path, url: str, token: str) -> dict[str, str]:
    """The environment the official CLI runs in: the local server as its API, a scratch HOME, no network."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "FASTLY_API_ENDPOINT": url,
        "FASTLY_ACCOUNT_ENDPOINT": url,
        "FASTLY_API_TOKEN": token,
        "NO_COLOR": "1",
        "HTTPS_PROXY": OFFLINE_PROXY,
        "HTTP_PROXY": OFFLINE_PROXY,
        "NO_PROXY": "127.0.0.1,localhost,::1",
    }


def official_cli_path() -> Path | None:
    env = os.environ.get("KVCLI_FASTLY_BIN")
    if env:
        candidates = [Path(env)]
    else:  # npm install --prefix .tools @fastly/cli-<platform> (linux-x64, darwin-arm64, ...)
        candidates = sorted((ROOT / ".tools" / "node_modules" / "@fastly").glob("cli-*/fastly"))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def require_or_skip(what: str) -> None:
    if os.environ.get("KVCLI_REQUIRE_CONFORMANCE") == "1":
        pytest.fail(f"{what} is missing and KVCLI_REQUIRE_CONFORMANCE=1")
    pytest.skip(f"{what} is not installed (npm install --prefix .tools @fastly/cli-linux-x64, or set KVCLI_FASTLY_BIN)")


class ServedKv(LocalServe):
    """`python -m kvcli local serve --port 0 --token … --access-log`; the access log is in ``log()``."""

    def __init__(self, data_dir: Path, token: str = TOKEN) -> None:
        super().__init__(data_dir, "--access-log", token=token)

    def log(self) -> str:
        return self.stderr()


@pytest.fixture(scope="module")
def kv_server(tmp_path_factory):
    server = ServedKv(tmp_path_factory.mktemp("conformance") / "data")
    yield server
    server.stop()
    assert server.proc.returncode == 0, server.log()[-3000:]  # SIGTERM ends it cleanly


@pytest.fixture
def kv_engine(kv_server):
    """The served database, opened in this process (the engine is safe to share with the server)."""
    eng = Engine.in_dir(kv_server.data_dir)
    yield eng
    eng.close()


@pytest.fixture
def kv_store(kv_engine):
    """A fresh, uniquely named store (the server is shared by the module)."""
    return kv_engine.create_store(f"conf-{uuid.uuid4().hex[:12]}")
