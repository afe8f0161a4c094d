"""The contract suite: the same behaviour tests, at the API port, against every adapter.

``api`` is parametrized over ``local`` (the embedded engine in-process), ``http`` (kvcli's HTTP adapter talking to
``kvcli local serve`` on a free 127.0.0.1 port) and ``http-light`` (the same adapter on the light session, plain
sockets instead of httpx: kvcli.api.http.light). A difference between them is a bug.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.served import LocalServe


class ServedBackend(LocalServe):
    """`kvcli local serve` with its own data directory and a token (the contract suite's http backend)."""

    def __init__(self, data_dir: Path, token: str = "contract-token") -> None:
        super().__init__(data_dir, token=token)


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")
    backend = ServedBackend(tmp_path_factory.mktemp("served-data"))
    yield backend
    backend.stop()


@pytest.fixture(params=["local", "http", "http-light"])
def api(request, isolated):
    if request.param == "local":
        from kvcli.api.local import LocalAdapter

        adapter = LocalAdapter.open(isolated["data"])
    else:
        pytest.importorskip("kvcli.api.http", reason="the HTTP adapter is not built yet")
        from kvcli.api.http import HttpAdapter

        backend = request.getfixturevalue("served")
        adapter = HttpAdapter(backend.url, backend.token, light=request.param == "http-light")
        assert type(adapter._session).__name__ == ("LightSession" if request.param == "http-light" else "HttpxSession")
    yield adapter
    adapter.close()


@pytest.fixture
def store(api):
    """A fresh store with a unique name (the served backend is shared by the whole session)."""
    s = api.create_store(f"contract-{uuid.uuid4().hex[:12]}")
    return s
