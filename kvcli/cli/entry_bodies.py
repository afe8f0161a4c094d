"""The bodies of the everyday ``kv-store-entry`` commands, free of Typer, click and rich.

The Typer commands (``kvcli.cli.entry_get``, …) and the click-free fast path (:mod:`kvcli.cli.fast`) both call
these functions with the parsed flags, so what they print, send and exit with cannot drift apart. Each takes the
invocation's :class:`~kvcli.cli.state.State` and the flags by name: the fast path runs a function only with the flags
that are its parameters (``scripts/gen_fastpath.py`` reads them from here), anything else takes the full CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from kvcli.api.errors import TooLarge, UsageError
from kvcli.cli import core
from kvcli.cli.core import human_time, resolve_store_id, rfc3339
from kvcli.cli.state import Output, State, output_format

if TYPE_CHECKING:
    from kvcli.api.models import Page

# imported where used (json, validation, models): `get`, the hottest command, needs none of them

PAGE_SIZE = 1000  # keys asked for per list request when --limit is given
FORMATS = ("table", "json", "ndjson", "plain")


def flag_conflicts(pairs: list[tuple[str, bool]]) -> None:
    """Refuse any two of the given flags together."""
    given = [name for name, on in pairs if on]
    if len(given) > 1:
        raise UsageError(f"{given[0]} and {given[1]} cannot be combined", f"use only one of {', '.join(given)}")


def output_stream() -> IO[bytes]:
    sys.stdout.flush()
    return sys.stdout.buffer


# ------------------------------------------------------------------------------------------------------ values
def read_limited(stream: IO[bytes], limit: int, what: str) -> bytes:
    """Read at most ``limit`` bytes; more than that is refused without reading the rest."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            f"{what} holds more than {limit} bytes, the value size limit",
            "store a smaller value, or raise KVCLI_MAX_VALUE_BYTES for the local backend",
        )
    return data


def read_value(value: str | None, value_file: str | None) -> bytes:
    """The value bytes from --value (UTF-8) or --value-file PATH / - (stdin), checked against the size limit."""
    if value is not None and value_file is not None:
        raise UsageError("--value and --value-file cannot be combined", "use one of them")
    if value is None and value_file is None:
        raise UsageError(
            "no value given", "pass --value TEXT, --value-file PATH, or --value-file - to read stdin"
        )
    from kvcli.api import validation

    limit = validation.max_value_bytes()
    if value is not None:
        try:
            data = value.encode("utf-8", "surrogateescape")  # argv bytes that were not UTF-8 come back unchanged
        except UnicodeEncodeError:
            raise UsageError("--value is not valid text", "use --value-file for binary values") from None
        validation.check_value_size(len(data), limit)
        return data
    assert value_file is not None
    if value_file == "-":
        return read_limited(sys.stdin.buffer, limit, "stdin")
    import os

    try:
        with open(value_file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            validation.check_value_size(size, limit)
            return read_limited(fh, limit, value_file)
    except IsADirectoryError:
        raise UsageError(f"--value-file {value_file!r} is a directory", "pass a file, or - for stdin") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read --value-file {value_file!r}: {exc.strerror or exc}", "check the path and permissions"
        ) from None


# ------------------------------------------------------------------------------------------------------ create
def create_entry(
    state: State,
    *,
    store_id: str | None,
    store_name: str | None,
    key: str | None,
    value: str | None,
    value_file: str | None,
    add: bool,
    append: bool,
    prepend: bool,
    background_fetch: bool,
    metadata: str | None,
    if_generation_match: int | None,
    ttl: int | None,
    json_out: bool,
) -> None:
    """`kv-store-entry create` of one key (the bulk import flags are the Typer command's business)."""
    out = state.out
    from kvcli.api import validation
    from kvcli.api.models import PutMode

    key = core.require_key(key)
    flag_conflicts([("--add", add), ("--append", append), ("--prepend", prepend)])
    flag_conflicts([("--add", add), ("--if-generation-match", if_generation_match is not None)])
    validation.check_key(key)
    validation.check_metadata(metadata)
    data = read_value(value, value_file)
    mode = PutMode.ADD if add else PutMode.APPEND if append else PutMode.PREPEND if prepend else PutMode.UPSERT

    api = state.api(writes=True)
    sid = resolve_store_id(api, store_id, store_name)
    api.put_item(
        sid,
        key,
        data,
        metadata=metadata,
        ttl=ttl,
        mode=mode,
        if_generation_match=if_generation_match,
        background_fetch=background_fetch,
    )
    if json_out:
        out.emit_json({"id": sid, "key": key})
    else:
        out.success(f"Created key '{key}' in KV Store {core.store_label(sid, store_name)}")


# --------------------------------------------------------------------------------------------------------- get
def get_entry(
    state: State,
    *,
    store_id: str | None,
    store_name: str | None,
    key: str | None,
    if_generation_match: int | None,
    json_out: bool,
) -> None:
    """`kv-store-entry get` (:func:`kvcli.cli.core.get_entry`)."""
    core.get_entry(
        state.api,
        store_id=store_id,
        store_name=store_name,
        key=key,
        if_generation_match=if_generation_match,
        json_out=json_out,
    )


# ---------------------------------------------------------------------------------------------------- describe
def item_json(info: Any) -> dict:
    """The official fields (generation as a string, key, metadata) then kvcli's extras."""
    return {
        "generation": str(info.generation),
        "key": info.key,
        "metadata": info.metadata,
        "size": info.size,
        "last_modified": rfc3339(info.last_modified),
        "expires_at": rfc3339(info.expires_at),
    }


def describe_entry(
    state: State, *, store_id: str | None, store_name: str | None, key: str | None, json_out: bool
) -> None:
    """`kv-store-entry describe`: one key's record (one HEAD request over HTTP)."""
    out = state.out
    key = core.require_key(key)
    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    info = api.describe_item(sid, key)
    if json_out:
        out.emit_json(item_json(info))
        return
    out.print_fields(
        [
            ("Key", info.key),
            ("Generation", str(info.generation)),
            ("Metadata", info.metadata),
            ("Size", f"{info.size} byte{'' if info.size == 1 else 's'}"),
            ("Last modified (UTC)", human_time(info.last_modified)),
            ("Expires (UTC)", human_time(info.expires_at) if info.expires_at else "never"),
        ]
    )


# -------------------------------------------------------------------------------------------------------- list
def limited_pages(
    api: Any, store_id: str, *, prefix: str | None, cursor: str | None, limit: int, consistency: str
) -> Iterator[Page[str]]:
    """Pages holding at most ``limit`` keys in all; each request asks for no more than remain, so the last page's
    ``next_cursor`` resumes exactly after the last key returned."""
    from kvcli.api.models import Page

    remaining = limit
    while remaining > 0:
        page = api.list_keys(
            store_id, prefix=prefix, cursor=cursor, limit=min(remaining, PAGE_SIZE), consistency=consistency
        )
        items = page.items[:remaining]
        remaining -= len(items)
        yield Page(items=items, next_cursor=page.next_cursor)
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor


def printable(key: str) -> str:
    """Table mode only (a terminal): show control characters escaped instead of letting them act."""
    if key.isprintable():
        return key
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in key)


class KeyWriter:
    """Writes keys in one format as they arrive (nothing is collected), UTF-8 on a binary stream."""

    def __init__(self, fmt: str, out: IO[bytes]) -> None:
        self.fmt = fmt
        self.out = out
        self.count = 0

    def _w(self, text: str) -> None:
        # backslashreplace: a lone surrogate from a server becomes \udxxx, which is still valid inside JSON strings
        self.out.write(text.encode("utf-8", "backslashreplace"))

    def keys(self, keys: list[str]) -> None:
        import json

        fmt = self.fmt
        for k in keys:
            if fmt == "plain":
                self._w(k + "\n")
            elif fmt == "ndjson":
                self._w(json.dumps({"key": k}, ensure_ascii=False) + "\n")
            elif fmt == "json":
                self._w(("[\n  " if self.count == 0 else ",\n  ") + json.dumps(k, ensure_ascii=False))
            else:
                if self.count == 0:
                    self._w("Key\n---\n")
                self._w(printable(k) + "\n")
            self.count += 1
        self.out.flush()

    def finish(self) -> None:
        if self.fmt == "json":
            self._w("\n]\n" if self.count else "[]\n")
        self.out.flush()


def list_entries(
    state: State,
    *,
    store_id: str | None,
    store_name: str | None,
    prefix: str | None,
    consistency: str,
    limit: int | None,
    cursor: str | None,
    fmt: str | None,
    json_out: bool,
    legacy_fmt: str | None,
) -> None:
    """`kv-store-entry list`: every page as it arrives (one request per page)."""
    out = state.out
    if legacy_fmt is not None:
        if fmt is not None and fmt != legacy_fmt:
            raise UsageError(f"--output-format {fmt} and --format {legacy_fmt} disagree", "use --output-format only")
        fmt = legacy_fmt
    fmt = output_format(fmt, json_out)
    from kvcli.api.port import iter_keys

    api = state.api()
    sid = resolve_store_id(api, store_id, store_name)
    prefix = prefix or None
    if limit is None:
        pages = iter_keys(api, sid, prefix=prefix, cursor=cursor, consistency=consistency)
    else:
        pages = limited_pages(api, sid, prefix=prefix, cursor=cursor, limit=limit, consistency=consistency)
    writer: KeyWriter | None = None
    last: Page[str] | None = None
    for page in pages:
        if writer is None:  # nothing reaches stdout before the first page succeeded
            writer = KeyWriter(fmt, output_stream())
        writer.keys(page.items)
        last = page
    if writer is None:  # pragma: no cover - both page iterators yield at least once
        writer = KeyWriter(fmt, output_stream())
    writer.finish()
    if limit is not None and last is not None and last.next_cursor and writer.count >= limit:
        out.err(f"next cursor: {last.next_cursor}")
    if fmt == "table":
        out.message(f"{writer.count} key{'s' if writer.count != 1 else ''}" if writer.count else "No keys found.")


# ------------------------------------------------------------------------------------------------------ delete
def delete_entry(
    state: State,
    *,
    store_id: str | None,
    store_name: str | None,
    key: str | None,
    force: bool,
    if_generation_match: int | None,
    dry_run: bool,
    json_out: bool,
) -> None:
    """`kv-store-entry delete --key`: one key (one DELETE request over HTTP; --dry-run: one HEAD, nothing deleted).
    --prefix and --all are the Typer command's business (prompts, the bulk deleter)."""
    out = state.out
    if key is None:
        raise UsageError("nothing to delete", "pass one of --key KEY, --prefix PREFIX or --all")
    key = core.require_key(key)
    api = state.api(writes=not dry_run)
    sid = resolve_store_id(api, store_id, store_name)
    delete_one(out, api, sid, key, force=force, if_generation_match=if_generation_match, dry_run=dry_run,
               json_out=json_out, store_name=store_name)  # fmt: skip


def delete_one(
    out: Output,
    api: Any, sid: str, key: str, *, force: bool, if_generation_match: int | None, dry_run: bool, json_out: bool,
    store_name: str | None = None,
) -> None:
    if dry_run:
        from kvcli.api.errors import NotFound

        try:
            info = api.describe_item(sid, key)
        except NotFound:
            if not force:
                raise
            keys: list[str] = []
        else:
            if if_generation_match is not None:
                core.check_generation(key, info.generation, if_generation_match)
            keys = [key]
        dry_run_output(out, sid, keys, json_out, store_name)
        return
    api.delete_item(sid, key, force=force, if_generation_match=if_generation_match)
    if json_out:
        out.emit_json({"key": key, "store_id": sid, "deleted": True})
    else:
        out.success(f"Deleted key '{key}' from KV Store {core.store_label(sid, store_name)}")


def dry_run_output(out: Output, sid: str, keys: list[str], json_out: bool, store_name: str | None = None) -> None:
    if json_out:
        out.emit_json({"dry_run": True, "store_id": sid, "keys": keys, "count": len(keys)})  # the streamed form's order
    else:
        stream = output_stream()
        for k in keys:
            stream.write((k + "\n").encode("utf-8", "backslashreplace"))
        stream.flush()
    from kvcli.cli.numbers import count

    out.message(f"Dry run: would delete {count(len(keys), 'key')} from KV Store {core.store_label(sid, store_name)}")
