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


@pytest.fixture(params=["httpx", "light"])
def http_session(request, monkeypatch):
    """Run a MockTransport test on both sessions (modules opt in with ``pytestmark``): at "light", every adapter
    built with ``transport=httpx.MockTransport(handler)`` for http://127.0.0.1:7676 gets the light session instead,
    talking to ``handler`` served on that port by tests/wire/bridge.py."""
    if request.param == "httpx":
        yield "httpx"
        return
    if request.node.originalname in getattr(request.module, "HTTPX_ONLY", ()):
        pytest.skip("not on the light session: see HTTPX_ONLY in this module")
    import httpx

    from kvcli.api.http.client import FastlyHttp
    from tests.wire.bridge import PORT, Bridge

    bridges: list[Bridge] = []
    real_init = FastlyHttp.__init__

    def init(self, endpoint, token, **kw):
        transport = kw.get("transport")
        if isinstance(transport, httpx.MockTransport) and endpoint.rstrip("/") == f"http://127.0.0.1:{PORT}":
            kw.pop("transport")
            if bridges:
                bridges[0].handler = transport.handler
            else:
                try:
                    bridges.append(Bridge(transport.handler))
                except OSError as exc:
                    pytest.skip(f"port {PORT} is taken: {exc}")
            kw["light"] = True
            real_init(self, endpoint, token, **kw)
            assert kw.get("debug") or type(self._session).__name__ == "LightSession"
        else:
            real_init(self, endpoint, token, **kw)

    monkeypatch.setattr(FastlyHttp, "__init__", init)
    try:
        yield "light"
    finally:
        for bridge in bridges:
            bridge.close()
