"""kvcli as a Python library: :func:`connect` and the :class:`KV` connection (stores). See docs/library.md.

The library is a thin layer over the API port (:mod:`kvcli.api.port`, implemented by the embedded engine's
``LocalAdapter`` and the Fastly ``HttpAdapter``) and the bulk pipeline (:mod:`kvcli.bulk`); the store handle is in
:mod:`kvcli.library_store`.

Rules it keeps: environment variables are read only by :func:`connect` (from the ``env`` mapping it is given, else
``os.environ``), once, while it resolves the backend and the settings; nothing in the library changes process-wide
state (signal handlers, ``gc`` thresholds, ``sys.modules``). A :class:`KV` may be shared between threads (see
:class:`KV`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvcli.api.errors import Closed, InvalidInput, KvcliError, NotFound
from kvcli.api.errors import add_facts as _facts
from kvcli.records import dataclass

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.config import Target
    from kvcli.library_store import Store

__all__ = ["KV", "Settings", "connect"]


@dataclass(frozen=True)
class Settings:
    """kvcli's own settings of a connection, as :func:`connect` resolved them (None: the built-in default).

    ``max_value_bytes`` applies to both backends; the others to the Fastly API (HTTP) only. They mirror the
    ``KVCLI_MAX_VALUE_BYTES`` and ``KVCLI_HTTP_*`` variables (docs/configuration.md).
    """

    timeout: float | None = None  # seconds a read may wait (KVCLI_HTTP_TIMEOUT; default 60)
    connect_timeout: float | None = None  # seconds a connection may take (default min(10, timeout))
    max_attempts: int | None = None  # attempts per request, the first included (KVCLI_HTTP_MAX_ATTEMPTS; default 5)
    max_retry_seconds: float | None = None  # no retry starts later than this (KVCLI_HTTP_MAX_RETRY_SECONDS; 60)
    backoff_base: float | None = None  # the first retry's largest wait (KVCLI_HTTP_BACKOFF_BASE; default 0.5)
    deadline: float | None = None  # one attempt's time limit (KVCLI_HTTP_DEADLINE; default 2 x timeout)
    min_rate: float | None = None  # bytes/s a large transfer must keep up (KVCLI_HTTP_MIN_RATE)
    max_response_bytes: int | None = None  # the largest JSON answer (KVCLI_HTTP_MAX_RESPONSE_BYTES)
    max_value_bytes: int | None = None  # the largest value (KVCLI_MAX_VALUE_BYTES; default 25 MiB)


def _positive(name: str, value: float | None, *, whole: bool = False, zero_ok: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise InvalidInput(f"{name}= must be a {'whole number' if whole else 'number'} (got {value!r})")
    if value < 0 or (value == 0 and not zero_ok):
        raise InvalidInput(f"{name}= must be {'at least 0' if zero_ok else 'greater than 0'} (got {value!r})")


def _check_settings(given: dict[str, Any]) -> None:
    for name in ("timeout", "connect_timeout", "deadline", "min_rate"):
        _positive(name, given[name])
    _positive("max_retry_seconds", given["max_retry_seconds"], zero_ok=True)
    _positive("backoff_base", given["backoff_base"], zero_ok=True)
    for name in ("max_attempts", "max_response_bytes", "max_value_bytes"):
        _positive(name, given[name], whole=True)


def _resolve_settings(env: Mapping[str, str], given: dict[str, Any], http: bool) -> Settings:
    from kvcli.api.validation import max_value_bytes

    from_env: dict[str, Any] = {}
    if http:  # as in the CLI, the KVCLI_HTTP_* variables matter (and are checked) only for the Fastly API
        from kvcli.api.http.retry import settings_from_env

        from_env = settings_from_env(env)  # ConfigError naming the variable when one is malformed
    values = {name: given[name] if given[name] is not None else from_env.get(name) for name in given}
    if values["max_value_bytes"] is None:
        values["max_value_bytes"] = max_value_bytes(env)  # KVCLI_MAX_VALUE_BYTES, else the default
    return Settings(**values)


def connect(
    *,
    profile: str | None = None,
    local: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    max_attempts: int | None = None,
    max_retry_seconds: float | None = None,
    backoff_base: float | None = None,
    deadline: float | None = None,
    min_rate: float | None = None,
    max_response_bytes: int | None = None,
    max_value_bytes: int | None = None,
    env: Mapping[str, str] | None = None,
) -> KV:
    """Open a connection to a KV backend, chosen as the ``kvcli`` command chooses it.

    Highest first: ``data_dir=`` (the embedded backend in that directory); ``local=True`` (the embedded backend in
    the default data directory); ``token=`` / ``endpoint=`` (the Fastly API; a token that names a stored Fastly
    profile uses that profile's token and endpoint); ``profile=``; ``FASTLY_API_TOKEN`` / ``FASTLY_API_ENDPOINT``;
    ``KVCLI_PROFILE``; the config file's default profile; else the embedded backend in the default data directory
    (``KVCLI_DATA_DIR``, else the platform's user data directory). The config file is ``KVCLI_CONFIG_DIR``'s.

    The settings (``timeout`` … ``max_value_bytes``, see :class:`Settings`) default from the ``KVCLI_*`` variables
    as in the CLI. ``env`` is the environment to read (default: ``os.environ``, read once, now); pass ``{}`` to
    ignore the environment. The connection reads no variable after this call.

    Raises ConfigError (unreadable config, unknown profile, malformed variable) or InvalidInput (bad arguments).
    """
    from kvcli.config import Target, resolve_target

    env = dict(os.environ if env is None else env)
    for name, text in (("token", token), ("endpoint", endpoint), ("profile", profile)):
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise InvalidInput(f"{name}= is empty", f"pass a value, or leave {name}= out")
    if data_dir is not None and (token or endpoint or profile or local):
        raise InvalidInput("data_dir= cannot be combined with local=, token=, endpoint= or profile=",
                           "data_dir= already chooses the embedded backend; pass only one of them")
    if local and (token or endpoint):
        raise InvalidInput("local=True cannot be combined with token= or endpoint=", "pass one or the other")
    given = {
        "timeout": timeout, "connect_timeout": connect_timeout, "max_attempts": max_attempts,
        "max_retry_seconds": max_retry_seconds, "backoff_base": backoff_base, "deadline": deadline,
        "min_rate": min_rate, "max_response_bytes": max_response_bytes, "max_value_bytes": max_value_bytes,
    }
    _check_settings(given)
    if data_dir is not None:
        where = Path(data_dir).expanduser()
        target = Target("local", "data_dir=", data_dir=where)
        journals = where / "imports"
    else:
        from kvcli.config_file import data_dir as default_data_dir

        target = resolve_target(local=local, token=token, endpoint=endpoint, profile=profile, env=env)
        journals = default_data_dir(env) / "imports"  # where the CLI keeps them: either resumes the other's import
    settings = _resolve_settings(env, given, http=target.kind == "http")
    return KV(_open(target, settings), target, settings, journal_dir=journals)


def _open(target: Target, settings: Settings) -> KVApi:
    if target.kind == "local":
        from kvcli.api.local import LocalAdapter
        from kvcli.api.validation import DEFAULT_MAX_VALUE_BYTES
        from kvcli.local.engine import Engine

        assert target.data_dir is not None
        limit = settings.max_value_bytes or DEFAULT_MAX_VALUE_BYTES  # explicit: the engine reads no variable
        return LocalAdapter(Engine.in_dir(target.data_dir, max_value_bytes=limit))
    from kvcli.api.validation import DEFAULT_MAX_VALUE_BYTES
    from kvcli.config import make_api

    options = {name: getattr(settings, name) for name in (
        "timeout", "connect_timeout", "max_attempts", "max_retry_seconds", "backoff_base", "deadline", "min_rate",
        "max_response_bytes")}
    api: KVApi = make_api(target, **options, max_value_bytes=settings.max_value_bytes or DEFAULT_MAX_VALUE_BYTES,
                          env={})  # env={}: every setting is explicit, the client reads no variable
    return api


class KV:
    """A connection to one KV backend: the embedded engine, or a Fastly API endpoint. Make one with :func:`connect`.

    Thread safety: a connection may be shared between threads. The embedded engine gives each thread its own SQLite
    connection and serialises writes in the process; the HTTP adapter uses one thread-safe, pooled ``httpx`` client.
    An iterator (:meth:`stores`, :meth:`Store.keys`) belongs to the thread that consumes it. Call :meth:`close` once
    no thread uses the connection any more; a connection (and its stores) used after ``close()`` raises ``Closed``.
    """

    def __init__(
        self, api: KVApi, target: Target, settings: Settings | None = None, *, journal_dir: Path | None = None
    ) -> None:
        self._api = api
        #: where import journals go (``resume=True``); None: beside an embedded database, else the CLI's default
        self._journal_dir = journal_dir
        if journal_dir is None and target.data_dir is not None:
            self._journal_dir = target.data_dir / "imports"
        self._closed = False
        self._close_lock = threading.Lock()
        #: where requests go and which precedence step chose it (kvcli.config.Target)
        self.target = target
        #: the settings the connection was opened with
        self.settings = settings or Settings()

    # ----------------------------------------------------------------------------------------------- plumbing
    @property
    def api(self) -> KVApi:
        """The API port adapter underneath (for what the library does not cover yet)."""
        if self._closed:
            raise Closed("this kvcli connection is closed", "open a new one with kvcli.connect()")
        return self._api

    @property
    def local(self) -> bool:
        """True for the embedded backend, False for a Fastly API endpoint."""
        return self.target.kind == "local"

    @property
    def description(self) -> str:
        """Where requests go, e.g. "embedded backend at /path/kvcli.db" (never a token)."""
        return self._api.description

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the backend (database connections, HTTP connections). Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._api.close()

    def __enter__(self) -> KV:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<kvcli.KV {self.description}{state}>"

    # ------------------------------------------------------------------------------------------------- stores
    def _handle(self, info: Any) -> Store:
        from kvcli.library_store import Store

        return Store(self, info)

    def create_store(self, name: str, location: str | None = None) -> Store:
        """Create a store (``location``: one of US, EU, ASIA, AUS, or None for the default)."""
        try:
            return self._handle(self.api.create_store(name, location))
        except KvcliError as exc:
            _facts(exc, "create_store")
            raise

    def store(self, name_or_id: str) -> Store:
        """The store with this name, else with this ID; NotFound if neither."""
        if not isinstance(name_or_id, str) or not name_or_id:
            raise InvalidInput(f"a store name or ID must be a non-empty string (got {name_or_id!r})")
        api = self.api
        try:
            return self._handle(api.find_store(name_or_id))
        except NotFound:
            pass
        except KvcliError as exc:
            _facts(exc, "store")
            raise
        try:
            return self._handle(api.get_store(name_or_id))
        except (NotFound, InvalidInput):  # InvalidInput: not even the shape of an ID
            pass
        except KvcliError as exc:
            _facts(exc, "store", name_or_id)
            raise
        raise _facts(NotFound(f"no KV store named {name_or_id!r} or with that ID", "list them with kv.stores()"),
                     "store")

    def stores(self, *, page_size: int | None = None) -> Iterator[Store]:
        """Every store, fetched a page at a time as the iteration goes (``page_size``: stores per request)."""
        from kvcli.api.port import iter_stores

        try:
            for info in iter_stores(self.api, page_size=page_size):
                yield self._handle(info)
        except KvcliError as exc:
            _facts(exc, "stores")
            raise

    def delete_store(self, store: Store | str) -> None:
        """Delete an empty store (a Store, a name or an ID); Conflict if it still has keys (``clear()`` it first)."""
        from kvcli.library_store import Store

        sid = store.id if isinstance(store, Store) else self.store(store).id
        try:
            self.api.delete_store(sid)
        except KvcliError as exc:
            _facts(exc, "delete_store", sid)
            raise

