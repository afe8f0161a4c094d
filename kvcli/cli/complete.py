"""Dynamic shell completion: store IDs and names, service IDs and names from the backend, profile names from the config.

The shells run ``kvcli`` with ``_KVCLI_COMPLETE`` set on every Tab (see completions/ and README), so a completer must
be quick and silent: the backend is the one the command line typed so far selects (``--local``, ``-t``, ``-o``,
``--endpoint`` before the subcommand, then the environment and the config, as for a real command); it is asked in a
worker thread that gets :data:`TIMEOUT` seconds; any error, a missing database or a slow server gives no
suggestions, and nothing is ever written to stderr (it would land in the middle of the user's command line).
"""

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

TIMEOUT = 1.0  # seconds a completion may wait for the backend
MAX_ITEMS = 2000  # suggestions read at most (a shell cannot show more usefully)

Suggestion = str | tuple[str, str]


def _target_from(ctx: click.Context | None):
    """The backend the partial command line selects (global flags given before the subcommand)."""
    from kvcli.config import resolve_target

    params = ctx.find_root().params if ctx is not None else {}
    return resolve_target(
        local=bool(params.get("local")),
        token=params.get("token"),
        endpoint=params.get("endpoint"),
        profile=params.get("profile"),
    )


def _ask_backend(ctx: click.Context | None, query: Callable[[Any], Iterable[Suggestion]]) -> list[Suggestion]:
    """``query(api)`` against the selected backend, in a worker thread; [] on any error or after TIMEOUT."""
    found: list[Suggestion] = []

    def work() -> None:
        try:
            from kvcli.config import make_api
            from kvcli.local.engine import DB_FILENAME

            target = _target_from(ctx)
            if target.kind == "local" and not (target.data_dir / DB_FILENAME).is_file():
                return  # completing must not create a database
            api = make_api(target)
            try:
                for item in query(api):
                    found.append(item)
                    if len(found) >= MAX_ITEMS:
                        break
            finally:
                api.close()
        except BaseException:  # noqa: BLE001 - a completion never fails loudly
            found.clear()

    from kvcli.threads import worker_thread

    worker = worker_thread(work, "kvcli-complete")
    with _silent_stderr() as done:
        worker.start()
        worker.join(TIMEOUT)
        if worker.is_alive():
            return []  # stderr stays silenced: the abandoned worker may still try to write
        done()
    return list(found)


class _silent_stderr:
    """Send stderr to nowhere; restored on exit only if ``done()`` was called (the worker finished)."""

    def __enter__(self) -> Callable[[], None]:
        self.saved = sys.stderr
        self.finished = False
        sys.stderr = io.StringIO()

        def done() -> None:
            self.finished = True

        return done

    def __exit__(self, *exc: object) -> None:
        if self.finished:
            sys.stderr = self.saved


def _matching(items: Iterable[Suggestion], incomplete: str) -> list[Suggestion]:
    return [i for i in items if (i[0] if isinstance(i, tuple) else i).startswith(incomplete or "")]


# ------------------------------------------------------------------------------------------------- completers
def store_ids(ctx: click.Context, incomplete: str) -> list[Suggestion]:
    """--store-id (and resource-link --resource-id): store IDs, each with its name as the description."""
    from kvcli.api.port import iter_stores

    return _matching(_ask_backend(ctx, lambda api: ((s.id, s.name) for s in iter_stores(api))), incomplete)


def store_names(ctx: click.Context, incomplete: str) -> list[Suggestion]:
    """--store-name: store names."""
    from kvcli.api.port import iter_stores

    return _matching(_ask_backend(ctx, lambda api: (s.name for s in iter_stores(api))), incomplete)


def keys(ctx: click.Context, incomplete: str) -> list[Suggestion]:
    """-k/--key: keys of the store given so far (--store-id or --store-name); what is typed is the list's prefix."""
    params = ctx.params if ctx is not None else {}
    store_id, store_name = params.get("store_id"), params.get("store_name")
    if not store_id and not store_name:
        return []

    def query(api) -> Iterable[Suggestion]:
        from kvcli.api.port import iter_keys

        sid = store_id or api.find_store(store_name).id
        for page in iter_keys(api, sid, prefix=incomplete or None, page_size=min(MAX_ITEMS, 1000)):
            yield from page.items

    return _matching(_ask_backend(ctx, query), incomplete)


def service_ids(ctx: click.Context, incomplete: str) -> list[Suggestion]:
    """--service-id: service IDs, each with its name as the description."""
    return _matching(_ask_backend(ctx, lambda api: ((s.id, s.name) for s in api.list_services())), incomplete)


def service_names(ctx: click.Context, incomplete: str) -> list[Suggestion]:
    """--service-name: service names."""
    return _matching(_ask_backend(ctx, lambda api: (s.name for s in api.list_services())), incomplete)


def profile_names(incomplete: str) -> list[Suggestion]:
    """Profile names from the config file, each with its type (no backend involved, never a token)."""
    with _silent_stderr() as done:
        try:
            from kvcli.config import load

            profiles = load().profiles
            items: list[Suggestion] = [(name, p.type) for name, p in sorted(profiles.items())]
        except BaseException:  # noqa: BLE001 - a completion never fails loudly
            items = []
        done()
    return _matching(items, incomplete)
