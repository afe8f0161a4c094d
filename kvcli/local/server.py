"""``kvcli local serve``: the embedded engine served as Fastly's KV store HTTP API.

A thin translation layer: HTTP requests become engine calls, engine results and typed errors become Fastly's
statuses, headers and bodies (see the wire constants in :mod:`kvcli.api.wire`). Routing is done on the *raw* request
path (ASGI ``scope["raw_path"]``) by a small router of its own, so a key such as ``a/b`` sent as ``a%2Fb`` stays one
path segment. The pieces live in modules of their own: the ASGI endpoint (:mod:`kvcli.local.server_app`), the
Host and Origin checks (:mod:`kvcli.local.server_safety`), the store and item handlers
(:mod:`kvcli.local.server_routes`), the batch endpoint (:mod:`kvcli.local.server_batch`) and the ``/service``
endpoints (:mod:`kvcli.local.server_services`); this module has the responses, the router and :func:`create_app`.

Extension point: the router is a list of ``(method, pattern, handler)`` routes. Another module can add routes (for
example the ``/service/...`` endpoints of resource links) by defining ``register(router: Router) -> None``; modules
named in :data:`ROUTE_MODULES` are imported and registered by :func:`create_app` when they exist. Handlers are plain
(synchronous) functions taking a :class:`Call` and returning a Starlette ``Response``. Most run in a worker thread,
because engine calls block on SQLite: writes wait for the write lock (and for other processes' writers), and a
streamed batch reads its body for as long as the client sends it. Routes added with ``inline=True`` (the short
reads: an item, its description, a bounded list page, a store) run on the event loop instead: in WAL mode a read
never waits for a writer, and handing a sub-millisecond query to a thread cost more than the query (a fifth of the
server's time). ``inline`` may also be a function of the :class:`Call` that says whether this call is short.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from kvcli.api import wire
from kvcli.local.engine import Engine
from kvcli.local.server_responses import (  # noqa: F401 - re-exported: route modules and tests import them from here
    MAX_HEADER_BYTES,
    NESTED_TOO_DEEPLY,
    SMALL_BODY_LIMIT,
    STATUS_MSG,
    error_response,
    header_value,
    json_problem,
    json_response,
    legacy_error,
    store_json,
    unicode_only,
)
from kvcli.local.server_routing import (  # noqa: F401 - re-exported
    Call,
    Handler,
    Route,
    Router,
    decode_segment,
    raw_segments,
    split_pattern,
)
from kvcli.local.server_safety import HostPolicy, split_host

#: modules that may extend the router (each defines ``register(router)``); missing ones are skipped
ROUTE_MODULES: tuple[str, ...] = ("kvcli.local.server_services",)


def create_app(
    engine_or_data_dir: Engine | str | Path,
    token: str | None = None,
    *,
    base_url: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    read_timeout: float | None = None,
) -> Starlette:
    """The Starlette app serving ``engine_or_data_dir`` (an Engine, or a data directory to open) as Fastly's API.

    With ``token``, requests whose ``Fastly-Key`` differs get 401; without, any key (or none) is accepted.
    ``base_url`` is the server's own URL, named in the discovery document (default: the socket's local address).
    With ``allowed_hosts`` (an iterable, possibly empty), only requests whose Host is a loopback name or one of these
    names are answered (others get 403): pass it when serving on a loopback address. Requests carrying a foreign
    ``Origin`` or ``Sec-Fetch-Site`` are refused in any case (see :class:`HostPolicy`). With ``read_timeout``, a
    request body that sends nothing for that many seconds is answered 408 and its connection closed.
    The app exposes ``app.state.router`` (add routes to it) and ``app.state.engine``.
    """
    from kvcli.local.server_app import FastlyApi

    if isinstance(engine_or_data_dir, Engine):
        engine, owned = engine_or_data_dir, False
    else:
        engine, owned = Engine.in_dir(engine_or_data_dir), True
    router = build_router()
    hosts = HostPolicy(
        check_host=allowed_hosts is not None,
        allowed=frozenset(split_host(h)[0] for h in allowed_hosts or ()),
    )
    api = FastlyApi(engine, router, token, base_url=base_url, hosts=hosts, read_timeout=read_timeout)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if owned:
            engine.close()

    app = _ApiApp(lifespan=lifespan)
    app.api = api
    # every request goes to the API endpoint (not through a Mount: its path regex would not match a decoded
    # newline, and routing must look at the raw path anyway)
    app.router.default = api
    app.state.engine = engine
    app.state.router = router
    app.state.api = api
    return app


class _ApiApp(Starlette):
    """Starlette for the lifespan; HTTP requests go straight to the API endpoint, which answers every path and
    turns every failure into an answer itself (Starlette's error and exception middleware and its empty route list
    took a tenth of a request's time)."""

    api: Any = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.api is not None:
            scope["app"] = self
            await self.api(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def build_router(extra_modules: Iterable[str] = ROUTE_MODULES) -> Router:
    router = Router()
    register(router)
    for name in extra_modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(router)
    return router


def register(router: Router) -> None:
    """The KV store, item and batch endpoints, plus the OIDC discovery document.

    The short reads run on the event loop (``inline``): an item or its description (one indexed row; a value is at
    most the value size limit), a store, a page of at most 1,000 keys. The store list (every store, sorted in
    Python), longer key pages, every write and the streamed batch run in worker threads."""
    from kvcli.local.server_batch import put_batch
    from kvcli.local.server_routes import (
        BATCH,
        ITEM,
        KEYS,
        STORE,
        STORES,
        _value_limit,
        create_store,
        delete_item,
        delete_store,
        get_item,
        get_store,
        head_item,
        list_keys,
        list_stores,
        oidc_configuration,
        put_item,
        rename_store,
        short_listing,
    )

    router.add("GET", wire.OIDC_PATH, oidc_configuration, public=True, inline=True)
    router.add("POST", STORES, create_store)
    router.add("GET", STORES, list_stores)
    router.add("GET", STORE, get_store, inline=True)
    router.add("PUT", STORE, rename_store)
    router.add("DELETE", STORE, delete_store)
    router.add("GET", KEYS, list_keys, inline=short_listing)
    router.add("PUT", BATCH, put_batch, streamed=True)
    router.add("GET", ITEM, get_item, inline=True)
    router.add("HEAD", ITEM, head_item, inline=True)
    router.add("PUT", ITEM, put_item, body_limit=_value_limit)
    router.add("DELETE", ITEM, delete_item)
