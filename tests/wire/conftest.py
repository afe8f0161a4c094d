"""Fixtures shared by the server wire tests: a movable clock and a Starlette TestClient over a module's ``engine``.

Each test module defines its own ``engine`` fixture (limits and clock differ); ``client`` serves whichever one the
requesting module defines.
"""

from __future__ import annotations

import warnings

import pytest

T0 = 1_750_707_676.0  # Mon, 23 Jun 2025 19:41:16 GMT, as in the recordings


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine):
    from kvcli.local.server import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with TestClient(create_app(engine)) as c:
        yield c
