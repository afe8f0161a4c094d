"""The library's store handle, :class:`kvcli.Store`: items, listing, bulk delete, import and export of one store.

A ``Store`` is made by :class:`kvcli.KV` (``kv.store(name)``, ``kv.create_store(name)``, ``kv.stores()``); it holds
the store's ID and the connection, nothing else, so it is cheap and safe to share between threads.

Errors are those of :mod:`kvcli.api.errors` with ``operation``, ``store_id`` and ``key`` filled in. Bulk operations
(``import_file``, ``export``, ``delete_prefix``, ``clear``) run the pipeline of :mod:`kvcli.bulk`, as the CLI does,
and raise ``PartialFailure`` (its ``report`` attribute holds the report) when some entries failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Literal

from kvcli.api.errors import Interrupted, InvalidInput, KvcliError, NotFound, PartialFailure
from kvcli.api.errors import add_facts as _facts
from kvcli.api.models import Item, ItemInfo, PutMode
from kvcli.api.models import Store as StoreRecord

if TYPE_CHECKING:
    from kvcli.api.port import KVApi
    from kvcli.bulk.export import ExportReport
    from kvcli.bulk.import_report import ImportReport
    from kvcli.library import KV

__all__ = ["Store"]

Mode = Literal["overwrite", "add", "append", "prepend"]
_MODES = {"overwrite": PutMode.UPSERT, "add": PutMode.ADD, "append": PutMode.APPEND, "prepend": PutMode.PREPEND}
#: values fetched at once by an export (the CLI's default), capped by what the backend declares (``api.limits``)
EXPORT_CONCURRENCY = 16


def _value_bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("the value is not valid Unicode (it has a lone surrogate)",
                               "pass bytes, or a str that encodes as UTF-8") from None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidInput(f"a value must be bytes or str (got {type(value).__name__})")


class Store:
    """One KV store of a connection: ``store[key]``, ``key in store``, ``del store[key]``, ``for key in store``.

    Not a full mapping: there is no ``len()`` (counting means listing every key; use ``sum(1 for _ in store)``).
    """

    def __init__(self, kv: KV, info: StoreRecord) -> None:
        self._kv = kv
        #: the store as the backend described it when this handle was made
        self.info = info

    # ------------------------------------------------------------------------------------------------- about
    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def location(self) -> str | None:
        return self.info.location

    @property
    def created_at(self) -> datetime | None:
        return self.info.created_at

    @property
    def kv(self) -> KV:
        """The connection this store belongs to."""
        return self._kv

    @property
    def _api(self) -> KVApi:
        return self._kv.api

    def __repr__(self) -> str:
        return f"<kvcli.Store {self.name!r} id={self.id!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Store):
            return other._kv is self._kv and other.id == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash((id(self._kv), self.id))

    # ------------------------------------------------------------------------------------------------- items
    def put(
        self,
        key: str,
        value: bytes | str,
        metadata: str | None = None,
        ttl: int | None = None,
        mode: Mode = "overwrite",
        if_generation_match: int | None = None,
    ) -> None:
        """Write one item. ``str`` values are UTF-8 encoded; ``ttl`` is in seconds; ``mode="add"`` refuses an
        existing key (PreconditionFailed), ``"append"``/``"prepend"`` extend the current value;
        ``if_generation_match`` writes only if the key is at that generation (0: only if it does not exist)."""
        put_mode = _MODES.get(mode) if isinstance(mode, str) else None
        if put_mode is None:
            raise InvalidInput(f"unknown mode {mode!r}", f"use one of: {', '.join(_MODES)}")
        data = _value_bytes(value)
        try:
            self._api.put_item(self.id, key, data, metadata=metadata, ttl=ttl, mode=put_mode,
                               if_generation_match=if_generation_match)
        except KvcliError as exc:
            _facts(exc, "put", self.id, key)
            raise

    def get(self, key: str) -> Item:
        """The item with its value, metadata, generation and expiry; NotFound if the key does not exist."""
        try:
            return self._api.get_item(self.id, key)
        except KvcliError as exc:
            _facts(exc, "get", self.id, key)
            raise

    def describe(self, key: str) -> ItemInfo:
        """The item's metadata, generation, size and expiry, without its value; NotFound if missing."""
        try:
            return self._api.describe_item(self.id, key)
        except KvcliError as exc:
            _facts(exc, "describe", self.id, key)
            raise

    def delete(self, key: str, *, missing_ok: bool = False, if_generation_match: int | None = None) -> None:
        """Delete one key; NotFound if it does not exist (unless ``missing_ok``)."""
        try:
            self._api.delete_item(self.id, key, force=missing_ok, if_generation_match=if_generation_match)
        except KvcliError as exc:
            _facts(exc, "delete", self.id, key)
            raise

    def __getitem__(self, key: str) -> bytes:
        return self.get(key).value

    def __setitem__(self, key: str, value: bytes | str) -> None:
        self.put(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self._api.describe_item(self.id, key)
            return True
        except NotFound:
            pass
        except KvcliError as exc:
            _facts(exc, "contains", self.id, key)
            raise
        try:
            self._api.get_store(self.id)  # the key is missing, or the whole store is: only the first is False
        except KvcliError as exc:
            _facts(exc, "contains", self.id, key)
            raise
        return False

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    # -------------------------------------------------------------------------------------------------- keys
    def keys(self, prefix: str | None = None, *, page_size: int | None = None) -> Iterator[str]:
        """Every key (under ``prefix``) in order, fetched a page at a time as the iteration goes."""
        from kvcli.api.port import iter_keys

        try:
            for page in iter_keys(self._api, self.id, prefix=prefix, page_size=page_size):
                yield from page.items
        except KvcliError as exc:
            _facts(exc, "keys", self.id)
            raise

    def items(
        self, prefix: str | None = None, *, page_size: int | None = None, concurrency: int | None = None
    ) -> Iterator[ItemInfo]:
        """What ``describe()`` says about every key (under ``prefix``), in key order, a page at a time as the
        iteration goes: one query per page on the embedded backend; over HTTP a listing, then the keys described
        ``concurrency`` at a time (default 16). A key deleted in between is left out. ``expires_at`` is None on
        real Fastly, which does not say."""
        from kvcli.api.fanout import MAX_CONCURRENCY
        from kvcli.api.port import iter_item_pages

        if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
            raise InvalidInput(f"concurrency {concurrency} is out of range", f"use 1 to {MAX_CONCURRENCY}")
        try:
            for page in iter_item_pages(self._api, self.id, prefix=prefix, page_size=page_size,
                                        concurrency=concurrency):  # fmt: skip
                yield from page.items
        except KvcliError as exc:
            _facts(exc, "items", self.id)
            raise

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; the number deleted. PartialFailure if some could not be."""
        if not isinstance(prefix, str) or not prefix:
            raise InvalidInput("the prefix is empty", "call clear() to delete every key")
        return self._delete_many(prefix, "delete_prefix")

    def clear(self) -> int:
        """Delete every key of the store; the number deleted. PartialFailure if some could not be."""
        return self._delete_many(None, "clear")

    def _delete_many(self, prefix: str | None, operation: str) -> int:
        from kvcli.ops.delete import DeleteRequest, run_delete

        api = self._api
        try:
            api.get_store(self.id)  # a missing store is NotFound, not a listing error in the report
        except KvcliError as exc:
            _facts(exc, operation, self.id)
            raise
        report = run_delete(api, self.id, DeleteRequest(prefix=prefix))
        if not report.ok:
            why = f"listing failed: {report.list_error}" if report.list_error else \
                f"{report.failed} keys could not be deleted" + (" (stopped early)" if report.stopped_early else "")
            failure = PartialFailure(f"{operation} incomplete: {why}; {report.deleted} keys were deleted",
                                 "see the errors in the report, and run it again", summary=report.to_json(),
                                 report=report)
            _facts(failure, operation, self.id)
            raise failure
        return report.deleted

    # ---------------------------------------------------------------------------------------- import, export
    def import_file(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,  # noqa: A002 - the issue's (and the CLI's) name
        resume: bool = False,
        on_progress: Callable[[ImportReport], None] | None = None,
        *,
        recursive: bool = False,
        toml_store: str | None = None,
    ) -> ImportReport:
        """Import a file (any format of ``kv-store-entry create --file``, detected unless ``format`` says) or the
        files of a directory (keys are their relative paths; sub-directories too with ``recursive=True``), with
        batches as the CLI sends them. ``toml_store`` picks the store of a fastly.toml that defines several.

        ``resume=True`` continues an interrupted import of the same input (a journal records what was acknowledged;
        the CLI's ``--resume`` and this one share it). ``on_progress`` is called with the running report after each
        batch, in the calling thread. A KeyboardInterrupt stops the import after recording what was acknowledged,
        and propagates. Returns the report; raises PartialFailure (with ``.report``) when entries
        failed, or the error that stopped the import (transport, auth, missing store) with what was written said in
        its message.
        """
        from kvcli.ops.imports import NOT_RESUMABLE, ImportJob, ImportRequest, journal_target

        kv = self._kv
        name = os.fspath(path)
        is_dir = os.path.isdir(name)
        try:
            job = ImportJob(ImportRequest(
                file=None if is_dir else name, directory=name if is_dir else None, recursive=recursive and is_dir,
                toml_store=None if is_dir else toml_store, format=format, resume=resume,
                max_value_bytes=kv.settings.max_value_bytes,
            ))
            job.open_source()
        except KvcliError as exc:
            _facts(exc, "import_file", self.id)
            raise
        status = job.prepare(self._api, self.id, journal_target=journal_target(kv.target),
                             journal_dir=kv._journal_dir)
        note = "this input cannot be resumed; everything was imported" if status == NOT_RESUMABLE else None
        try:
            report = job.run(on_progress=on_progress)
        except Interrupted as exc:  # Ctrl-C: what was acknowledged is in the journal; the caller gets it back as is
            raise KeyboardInterrupt from exc
        if note:
            report.notes.append(note)
        if job.fatal is not None:
            fatal = job.fatal
            fatal.message = f"import stopped: {fatal.message} ({report.written} entries were written before it stopped)"
            _facts(fatal, "import_file", self.id)
            raise fatal
        if not report.ok:
            what = f"{report.failed} of {report.written + report.failed} entries failed"
            if report.stopped:
                what += f"; stopped early: {report.stopped}"
            failure = PartialFailure(f"import incomplete: {what}", "see report.errors", summary=report.to_json(),
                                 report=report)
            _facts(failure, "import_file", self.id)
            raise failure
        return report

    def export(
        self,
        path_or_stream: str | os.PathLike[str] | IO[str] | IO[bytes],
        format: str = "ndjson",  # noqa: A002
        *,
        prefix: str | None = None,
        on_progress: Callable[[ExportReport], None] | None = None,
    ) -> ExportReport:
        """Write every item (under ``prefix``) to a file, a directory (``format="dir"``) or an open stream.

        Formats: ``ndjson`` (Fastly's batch lines: ``import_file`` restores them), ``viceroy``, ``wrangler``,
        ``dir``. A file is written as ``PATH.partial`` and renamed into place once complete, so PATH never holds half
        an export; a stream (text or binary) is written as the export goes and left open. Raises PartialFailure
        (with ``.report``) when items could not be exported (the output then holds the others).
        """
        from kvcli.ops.export import ExportRequest, check_format, run_export

        fmt = check_format(format)
        is_path = isinstance(path_or_stream, str | os.PathLike)
        if fmt == "dir" and not is_path:
            raise InvalidInput("format='dir' needs a directory path, not a stream")
        if isinstance(path_or_stream, str | os.PathLike):
            request = ExportRequest(format=fmt, prefix=prefix, path=path_or_stream, concurrency=EXPORT_CONCURRENCY)
        else:
            request = ExportRequest(format=fmt, prefix=prefix, stream=path_or_stream, concurrency=EXPORT_CONCURRENCY)
        try:
            report = run_export(self._api, self.id, request, on_progress=on_progress)
        except KvcliError as exc:
            _facts(exc, "export", self.id)
            raise
        if not report.ok:
            failure = PartialFailure(f"export incomplete: {report.failed} entries could not be exported",
                                 "see report.errors" + ("; format='ndjson' can hold any key and value"
                                                        if fmt != "ndjson" else ""),
                                 summary=report.to_json(), report=report)
            _facts(failure, "export", self.id)
            raise failure
        return report
