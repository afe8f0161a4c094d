"""A directory of files: key = file name (top level, like the official CLI) or, with ``recursive``, the relative
path joined with ``/``; value = the file's bytes, read only when its batch is built.

- Hidden names (starting with ``.``) are skipped unless ``allow_hidden``; in recursive mode a hidden directory is
  skipped with everything in it.
- Symlinks are never followed out of the tree: a link to a regular file inside the tree is read; a link that leads
  outside it, a link to a directory, and anything that is not a regular file are skipped and listed in ``notes``.
- Files are visited in sorted order, so the same tree always gives the same ordinals (``--resume`` relies on it).
- What cannot be read (a directory that cannot be listed, a name that cannot be examined) is never silently left
  out: it is listed in ``unreadable`` (sync keeps the keys under it) and, as an import, it is a bad record.
- Only regular files are ever opened, and only with :func:`open_regular` (which never blocks on a FIFO or opens a
  device, even when a file was replaced by one after the walk).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from kvcli.bulk.records import Bad, Entry, Record
from kvcli.bulk.sources.base import Source, SourceError
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

MAX_NOTES = 50


@dataclass(frozen=True)
class Unreadable:
    """A part of the tree that could not be read: ``rel`` is its key (a directory's ends with ``/``; "" is the
    root), ``path`` the file system path."""

    rel: str
    path: str
    reason: str

    def covers(self, key: str) -> bool:
        """Whether a key (relative to the directory) may stand for a file in this part of the tree."""
        if self.rel == "" or self.rel.endswith("/"):
            return key.startswith(self.rel)
        return key == self.rel or key.startswith(self.rel + "/")


def open_regular(path: str) -> BinaryIO:
    """Open a regular file for reading; OSError for anything else (a FIFO, a device, a socket), without blocking."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class DirSource(Source):
    format = "dir"

    def __init__(self, path: str, *, recursive: bool = False, allow_hidden: bool = False) -> None:
        super().__init__()
        self.path = path
        self.label = path
        self.recursive = recursive
        self.allow_hidden = allow_hidden
        self.skipped = 0
        #: sub-directories left out because the walk is not recursive (the last walk's; hidden ones not counted)
        self.skipped_dirs = 0
        #: the parts of the tree that could not be read (the last walk's)
        self.unreadable: list[Unreadable] = []
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"open {path}: no such file or directory", "check the path of the directory",
                              reason="dir_missing") from None
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(f"{path} is not a directory", "import it as a file", reason="dir_is_file")
        self.root = os.path.realpath(path)

    def identity(self) -> dict | None:
        return {"dir": self.root, "recursive": self.recursive, "hidden": self.allow_hidden}

    def _note(self, text: str) -> None:
        self.skipped += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)
        elif len(self.notes) == MAX_NOTES:
            self.notes.append("… more files skipped")

    def files(self) -> Iterator[tuple[str, str, int]]:
        """(key, path, size) of every file to import, in sorted key order; what cannot be read goes to
        :attr:`unreadable`."""
        for item in self.walk():
            if not isinstance(item, Unreadable):
                yield item

    def walk(self) -> Iterator[tuple[str, str, int] | Unreadable]:
        """Every file as (key, path, size) and every unreadable part as :class:`Unreadable`, in sorted key order."""
        self.unreadable = []
        self.skipped_dirs = 0
        for item in self._walk(self.root, "", self.path):
            if isinstance(item, Unreadable):
                self.unreadable.append(item)
            yield item

    def _walk(self, directory: str, prefix: str, shown: str) -> Iterator[tuple[str, str, int] | Unreadable]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Unreadable(prefix, shown, f"cannot list directory ({exc.strerror or exc})")
            return
        # sorted names, sub-directories visited in place: the same tree always gives the same sequence
        for entry in entries:
            name = entry.name
            rel = prefix + name
            if name.startswith(".") and not self.allow_hidden:
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not _inside(target, self.root):
                        self._note(f"{rel}: symlink leads outside the directory; skipped")
                        continue
                    st = os.stat(target)
                    if stat.S_ISDIR(st.st_mode):
                        self._note(f"{rel}: symlink to a directory; skipped")
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        self._note(f"{rel}: not a regular file; skipped")
                        continue
                    yield rel, target, st.st_size
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if self.recursive:
                        yield from self._walk(entry.path, rel + "/", os.path.join(shown, name))
                    else:
                        self.skipped_dirs += 1
                    continue
                if not entry.is_file(follow_symlinks=False):
                    self._note(f"{rel}: not a regular file; skipped")
                    continue
                yield rel, entry.path, entry.stat(follow_symlinks=False).st_size
            except OSError as exc:
                yield Unreadable(rel, os.path.join(shown, name), f"cannot read ({exc.strerror or exc})")

    def count_bytes(self) -> int:
        """Walk once to learn the total size (for progress); notes from this walk are discarded."""
        saved, saved_skipped = list(self.notes), self.skipped
        total = sum(size for _, _, size in self.files())
        self.notes, self.skipped = saved, saved_skipped
        self.total_bytes = total
        return total

    def records(self, start=None) -> Iterator[Record]:
        for ordinal, item in enumerate(self.walk()):
            if isinstance(item, Unreadable):
                yield Bad(f"{item.reason}; nothing under it was imported" if item.rel == "" or item.rel.endswith("/")
                          else item.reason, item.path, None, ordinal, code="unreadable")
                continue
            key, path, size = item
            yield Entry(key, None, None, None, False, path, None, ordinal, path=path, size=size)
            self._position += size
