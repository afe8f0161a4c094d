"""Make a store (or a prefix of it) match a directory: keys are the files' relative paths joined with ``/``.

Change detection
----------------
Every value sync uploads gets metadata ``{"kvcli-sha256":"<hex digest of the value>"}``. Deciding whether a file
changed then needs no value download: the store's key list is streamed, each key that also exists as a file is
described (``describe_item``: metadata, size and generation, never the value) and compared with the file's size
and SHA-256.

* same size and same hash → unchanged (nothing sent);
* different size or hash → update;
* metadata without a kvcli hash (a key written by something else) → update, reported as "no content hash". The
  upload records the hash, so the next sync of an unchanged file costs nothing. Sync therefore owns the metadata of
  the keys it manages; keep other metadata elsewhere.
* a file without a key → add; with ``delete``, a key (under the prefix) without a file → delete.

Uploads go through the normal import pipeline (batches, concurrency, retries, per-key accounting); deletions through
:func:`kvcli.bulk.delete.delete_keys`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

from kvcli.api.errors import KvcliError, NotFound
from kvcli.api.port import iter_keys
from kvcli.api.validation import max_value_bytes
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources.base import ResumePoint, Source
from kvcli.bulk.sources.directory import DirSource, Unreadable, open_regular
from kvcli.records import dataclass, field  # dataclasses' semantics, a fraction of the import time
from kvcli.threads import worker_pool

HASH_FIELD = "kvcli-sha256"
_READ = 1 << 20


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while True:
            block = fh.read(_READ)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def hash_metadata(digest: str) -> str:
    return json.dumps({HASH_FIELD: digest}, separators=(",", ":"))


def hash_from_metadata(metadata: str | None) -> str | None:
    if not metadata or HASH_FIELD not in metadata:
        return None
    try:
        obj = json.loads(metadata)
    except ValueError:
        return None
    value = obj.get(HASH_FIELD) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


@dataclass
class LocalFile:
    key: str
    path: str
    size: int
    digest: str | None = None

    def sha256(self) -> str:
        if self.digest is None:
            self.digest = file_sha256(self.path)
        return self.digest


@dataclass
class Plan:
    add: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # key -> why it is updated
    errors: list[dict] = field(default_factory=list)  # keys that could not be compared
    notes: list[str] = field(default_factory=list)
    #: parts of the directory that could not be read: their keys are neither compared nor deleted
    unreadable: list[Unreadable] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # keys --delete would have removed, kept as they may have a file

    @property
    def complete(self) -> bool:
        """Whether the whole directory was read (else the plan covers only what could be)."""
        return not self.unreadable

    def counts(self) -> dict[str, int]:
        return {
            "add": len(self.add),
            "update": len(self.update),
            "delete": len(self.delete),
            "unchanged": len(self.unchanged),
            "errors": len(self.errors),
        }

    def to_json(self, *, with_unchanged: bool = True) -> dict:
        out: dict = {
            "counts": self.counts(),
            "add": self.add,
            "update": [{"key": k, "reason": self.reasons.get(k, "")} for k in self.update],
            "delete": self.delete,
        }
        if with_unchanged:
            out["unchanged"] = self.unchanged
        out["errors"] = self.errors
        out["unreadable"] = [{"path": u.path, "detail": u.reason} for u in self.unreadable]
        out["kept"] = self.kept
        return out


def local_files(directory: str, *, allow_hidden: bool = False) -> tuple[dict[str, LocalFile], DirSource]:
    src = DirSource(directory, recursive=True, allow_hidden=allow_hidden)
    files = {key: LocalFile(key, path, size) for key, path, size in src.files()}
    return files, src


def compare(info_metadata: str | None, info_size: int, local: LocalFile) -> str | None:
    """Why the stored item differs from the file (None when it is the same)."""
    stored = hash_from_metadata(info_metadata)
    if stored is None:
        return "no content hash in metadata"
    if info_size != local.size:
        return f"size {info_size} → {local.size}"
    if stored != local.sha256():
        return "content changed"
    return None


def make_plan(
    api,
    store_id: str,
    directory: str,
    *,
    prefix: str = "",
    delete: bool = False,
    allow_hidden: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Plan, dict[str, LocalFile]]:
    """Compare the directory with the store; change nothing."""
    files, src = local_files(directory, allow_hidden=allow_hidden)
    wanted = {prefix + k: f for k, f in files.items()}
    plan = Plan(notes=list(src.notes), unreadable=list(src.unreadable))
    present: list[str] = []
    for page in iter_keys(api, store_id, prefix=prefix or None):
        for key in page.items:
            if key in wanted:
                present.append(key)
            elif delete:
                rel = key[len(prefix):]
                if any(u.covers(rel) for u in plan.unreadable):
                    plan.kept.append(key)  # its file may exist where the directory could not be read
                else:
                    plan.delete.append(key)
    present_set = set(present)
    plan.add = sorted(k for k in wanted if k not in present_set)

    def judge(key: str) -> tuple[str, str | None, Exception | None]:
        try:
            info = api.describe_item(store_id, key)
        except NotFound:  # deleted or expired since it was listed
            return key, "missing", None
        except KvcliError as exc:
            return key, None, exc
        try:
            return key, compare(info.metadata, info.size, wanted[key]), None
        except OSError as exc:
            return key, None, exc

    def results() -> Iterator[tuple[str, str | None, Exception | None]]:
        if concurrency <= 1:
            yield from map(judge, present)
        else:
            with worker_pool(concurrency, "kvcli-sync") as pool:
                yield from pool.map(judge, present)

    for n, (key, why, exc) in enumerate(results(), start=1):
        if exc is not None:
            plan.errors.append({"key": key, "detail": getattr(exc, "message", None) or str(exc)})
        elif why == "missing":
            plan.add.append(key)
        elif why is None:
            plan.unchanged.append(key)
        else:
            plan.update.append(key)
            plan.reasons[key] = why
        if on_progress is not None:
            on_progress(n)
    plan.add.sort()
    return plan, wanted


class PlannedUploads(Source):
    """The files a plan adds or updates, as a source for the import pipeline (metadata = their content hash)."""

    format = "dir"

    def __init__(self, directory: str, keys: list[str], files: dict[str, LocalFile]) -> None:
        super().__init__()
        self.label = directory
        self.keys = keys
        self.files = files
        self.total_bytes = sum(files[k].size for k in keys)

    def records(self, start: ResumePoint | None = None) -> Iterator[Entry | Bad]:
        limit = max_value_bytes()
        for ordinal, key in enumerate(self.keys):
            f = self.files[key]
            try:
                with open_regular(f.path) as fh:
                    data = fh.read(limit + 1)  # never more than the limit: a bigger file is refused unread
            except OSError as exc:
                yield Bad(f"cannot read {f.path}: {exc.strerror}", f.path, None, ordinal, key=key, code="unreadable")
                continue
            if len(data) > limit:
                yield Bad(f"file is larger than the {limit}-byte value limit", f.path, None, ordinal, key=key,
                          code="too_large")
                continue
            digest = hashlib.sha256(data).hexdigest()
            f.digest = digest
            self._position += len(data)
            yield Entry(key, data, hash_metadata(digest), None, False, f.path, None, ordinal, size=len(data))
