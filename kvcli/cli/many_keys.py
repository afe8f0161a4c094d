"""Many keys in one process: ``kv-store-entry list --long`` and ``get``/``describe --keys-file``.

The API has no bulk read, so over HTTP each key is one request; these run them ``--concurrency`` at once (default
16) and print in order as the answers come, holding only a bounded window of keys (docs/scripting.md). On the
embedded backend ``list --long`` is one query per page and the keys of ``--keys-file`` are read one after another
(SQLite in this process has nothing to wait for).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from kvcli.api.errors import KvcliError, PartialFailure, UsageError
from kvcli.api.models import ItemInfo, Page
from kvcli.cli.numbers import count
from kvcli.cli.options import human_time, resolve_store_id
from kvcli.cli.state import State

if TYPE_CHECKING:
    from kvcli.cli.state import Output

LONG_COLUMNS = ["Key", "Generation", "Size", "Metadata", "Last modified (UTC)", "Expires (UTC)"]
PAGE_SIZE = 1000
#: per-key failures of --keys-file that are reported as an object and do not stop the others
PER_KEY_KINDS = frozenset({"not_found", "invalid_input", "too_large"})


def check_concurrency(concurrency: int | None) -> None:
    from kvcli.api.fanout import MAX_CONCURRENCY

    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(
            f"--concurrency {concurrency} is out of range", f"pass a number from 1 to {MAX_CONCURRENCY}"
        )


def item_json(info: ItemInfo) -> dict[str, Any]:
    """``describe --json``'s object."""
    from kvcli.cli.entry_bodies import item_json as describe_json

    return describe_json(info)


def _plain(text: str) -> str:
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _out() -> IO[bytes]:
    sys.stdout.flush()
    return sys.stdout.buffer


def _w(out: IO[bytes], text: str) -> None:
    # backslashreplace: a lone surrogate from a server becomes \udxxx, which is still valid inside JSON strings
    out.write(text.encode("utf-8", "backslashreplace"))


# -------------------------------------------------------------------------------------------------- list --long
class ItemWriter:
    """Writes :class:`ItemInfo` records in one listing format as pages arrive (nothing is collected)."""

    def __init__(self, fmt: str, output: Output) -> None:
        self.fmt = fmt
        self.output = output  # where a table goes (the binary stream below is for the other formats)
        self.count = 0
        self.out: IO[bytes] | None = None

    def page(self, items: list[ItemInfo]) -> None:
        if self.out is None:
            self.out = _out()
        out, fmt = self.out, self.fmt
        if fmt == "table":
            if items:
                self.output.print_table(LONG_COLUMNS, [self._row(i) for i in items], fmt="table")
            self.count += len(items)
            return
        for info in items:
            if fmt == "ndjson":
                _w(out, json.dumps(item_json(info), ensure_ascii=False) + "\n")
            elif fmt == "json":
                body = json.dumps(item_json(info), indent=2, ensure_ascii=False).replace("\n", "\n  ")
                _w(out, ("[\n  " if self.count == 0 else ",\n  ") + body)
            else:
                _w(out, "\t".join(_plain(c) for c in self._row(info)) + "\n")
            self.count += 1
        out.flush()

    @staticmethod
    def _row(info: ItemInfo) -> list[str]:
        return [
            info.key,
            str(info.generation),
            str(info.size),
            info.metadata,
            human_time(info.last_modified),
            human_time(info.expires_at),  # "-": no expiry, or a backend that does not say (Fastly)
        ]

    def finish(self) -> None:
        out = self.out or _out()
        if self.fmt == "json":
            _w(out, "\n]\n" if self.count else "[]\n")
        out.flush()


def limited_item_pages(
    api, store_id: str, *, prefix: str | None, cursor: str | None, limit: int, consistency: str,
    concurrency: int | None,
) -> Iterator[Page[ItemInfo]]:
    """Pages of at most ``limit`` records in all (``list`` --limit); each request asks for no more than remain."""
    remaining = limit
    while remaining > 0:
        page = api.list_items(store_id, prefix=prefix, cursor=cursor, limit=min(remaining, PAGE_SIZE),
                              consistency=consistency, concurrency=concurrency)  # fmt: skip
        items = page.items[:remaining]
        remaining -= len(items)
        yield Page(items=items, next_cursor=page.next_cursor)
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def list_long(
    out: Output,
    api, sid: str, *, prefix: str | None, cursor: str | None, limit: int | None, consistency: str, fmt: str,
    concurrency: int | None,
) -> None:
    """``kv-store-entry list --long``: key, generation, size, metadata, last modification and expiry per key."""
    from kvcli.api.port import iter_item_pages

    if limit is None:
        pages: Iterable[Page[ItemInfo]] = iter_item_pages(
            api, sid, prefix=prefix, cursor=cursor, page_size=PAGE_SIZE, consistency=consistency,
            concurrency=concurrency,
        )
    else:
        pages = limited_item_pages(api, sid, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency,
                                   concurrency=concurrency)  # fmt: skip
    writer = ItemWriter(fmt, out)
    last: Page[ItemInfo] | None = None
    for page in pages:
        writer.page(page.items)
        last = page
    writer.finish()
    if limit is not None and last is not None and last.next_cursor and writer.count >= limit:
        out.err(f"next cursor: {last.next_cursor}")
    if fmt == "table":
        out.message(count(writer.count, "key") if writer.count else "No keys found.")


# -------------------------------------------------------------------------------------------------- --keys-file
def read_keys(path: str) -> Iterator[tuple[int, str | None, str]]:
    """``(line number, key or None, problem)`` for every non-empty line of PATH (``-``: stdin), read lazily.

    The line ending (LF or CRLF) is not part of the key; an empty line is skipped; anything else, spaces included,
    is the key verbatim. A line that is not UTF-8 gives ``(n, None, problem)``.
    """
    if path == "-":
        yield from _keys_of(sys.stdin.buffer)
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the lazy iteration
    except IsADirectoryError:
        raise UsageError(f"--keys-file {path!r} is a directory", "pass a file with one key per line, or - for stdin") \
            from None
    except OSError as exc:
        raise UsageError(f"cannot read --keys-file {path!r}: {exc.strerror or exc}",
                         "check the path and permissions") from None  # fmt: skip
    with fh:
        yield from _keys_of(fh)


def _keys_of(stream: IO[bytes]) -> Iterator[tuple[int, str | None, str]]:
    for n, raw in enumerate(stream, 1):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            continue
        try:
            yield n, raw.decode("utf-8"), ""
        except UnicodeDecodeError:
            yield n, None, f"line {n} is not valid UTF-8: {raw.decode('utf-8', 'backslashreplace')[:80]}"


def _get_json(item) -> dict[str, Any]:
    import base64

    info = item.info
    obj: dict[str, Any] = {"key": info.key, "generation": str(info.generation), "metadata": info.metadata}
    try:
        obj["value"], obj["encoding"] = item.value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        obj["value"], obj["encoding"] = base64.b64encode(item.value).decode("ascii"), "base64"
    return obj


def run_keys_file(api, sid: str, path: str, *, operation: str, concurrency: int) -> None:
    """``get``/``describe --keys-file``: one NDJSON object per key in input order; a key that cannot be read gives
    ``{"key", "line", "error", "message"}`` and the others go on; exit 7 at the end if any failed. An error that
    every key would hit (auth, transport, server) stops at once, after the lines already printed."""
    from kvcli.api import validation
    from kvcli.api.errors import InvalidInput
    from kvcli.api.fanout import ordered_map

    api.get_store(sid)  # a missing store is exit 3 once, not a "not found" per key
    keys = read_keys(path)
    read = api.get_item if operation == "get" else api.describe_item
    as_json = _get_json if operation == "get" else item_json

    def one(entry: tuple[int, str | None, str]) -> Any:
        n, key, problem = entry
        if key is None:
            raise InvalidInput(problem, "keys are UTF-8 text, one per line")
        problem = validation.key_problem(key) or ""
        if problem:
            raise InvalidInput(problem)
        return read(sid, key)

    out = _out()
    total = failed = 0
    kinds: dict[str, int] = {}
    try:
        for (n, key, _), got in ordered_map(one, keys, concurrency):
            total += 1
            if isinstance(got, KvcliError):
                if got.kind not in PER_KEY_KINDS:
                    raise got
                failed += 1
                kinds[got.kind] = kinds.get(got.kind, 0) + 1
                shown = key if key is not None else ""
                obj = {"key": shown, "line": n, "error": got.kind, "message": got.message}
            else:
                obj = as_json(got)
            _w(out, json.dumps(obj, ensure_ascii=False) + "\n")
            out.flush()  # each line as soon as it is known: a reader of a pipe sees every answer at once
    finally:
        out.flush()
    if failed:
        what = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in sorted(kinds.items()))
        raise PartialFailure(
            f"{failed:,} of {count(total, 'key')} could not be read: {what}",
            "the objects with an \"error\" field on stdout name them",
            summary={"keys": total, "failed": failed},
        )


def run_from_flags(state: State, operation: str, keys_file: str, key: str | None, concurrency: int | None,
                   store_id: str | None, store_name: str | None, others: list[tuple[str, bool]]) -> None:
    """`get`/`describe --keys-file`: refuse the flags that do not apply, then read the keys."""
    if key is not None:
        raise UsageError("--key and --keys-file cannot be combined", "pass one key with --key, or a file of keys")
    for name, on in others:
        if on:
            raise UsageError(f"{name} does not apply to --keys-file", f"drop {name}")
    check_concurrency(concurrency)
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    from kvcli.api.fanout import DEFAULT_CONCURRENCY
    from kvcli.api.port import limits_of

    # the embedded backend declares a single worker (SQLite in this process): its keys are read one after another
    concurrency = limits_of(api).concurrency(concurrency or DEFAULT_CONCURRENCY)
    run_keys_file(api, sid, keys_file, operation=operation, concurrency=concurrency)
