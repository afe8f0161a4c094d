"""The library tests run every method against both backends: ``local`` (the embedded engine, in a temporary data
directory) and ``http`` (the HTTP adapter talking to a real ``kvcli local serve`` on 127.0.0.1), as tests/contract
does at the API port. A difference between the two is a bug.
"""

from __future__ import annotations

import uuid

import pytest

from tests.served import LocalServe


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    backend = LocalServe(tmp_path_factory.mktemp("library-served"), token="library-token")
    yield backend
    backend.stop()


@pytest.fixture(params=["local", "http"])
def kv(request, isolated):
    import kvcli

    if request.param == "local":
        conn = kvcli.connect(data_dir=isolated["data"])
    else:
        backend = request.getfixturevalue("served")
        conn = kvcli.connect(endpoint=backend.url, token=backend.token)
    yield conn
    conn.close()


@pytest.fixture
def store(kv):
    """A fresh store with a unique name (the served backend is shared by the whole session)."""
    return kv.create_store(f"lib-{uuid.uuid4().hex[:12]}")
