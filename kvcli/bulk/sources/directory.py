"""A directory of files: key = file name (top level, like the official CLI) or, with ``recursive``, the relative
path joined with ``/``; value = the file's bytes, read only when its batch is built.

- Hidden names (starting with ``.``) are skipped unless ``allow_hidden``; in recursive mode a hidden directory is
  skipped with everything in it.
- Symlinks are never followed out of the tree: a link to a regular file inside the tree is read; a link that leads
  outside it, a link to a directory, and anything that is not a regular file are skipped and listed in ``notes``.
- Files are visited in sorted order, so the same tree always gives the same ordinals (``--resume`` relies on it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from kvcli.bulk.records import Entry, Record
from kvcli.bulk.sources.base import Source, SourceError

MAX_NOTES = 50


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
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"open {path}: no such file or directory", "check the path given to --dir") from None
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(f"{path} is not a directory", "use --file for a file")
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
        """(key, path, size) of every file to import, in sorted key order."""
        yield from self._walk(self.root, "")

    def _walk(self, directory: str, prefix: str) -> Iterator[tuple[str, str, int]]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self._note(f"{directory}: cannot list directory ({exc.strerror})")
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
                        yield from self._walk(entry.path, rel + "/")
                    continue
                if not entry.is_file(follow_symlinks=False):
                    self._note(f"{rel}: not a regular file; skipped")
                    continue
                yield rel, entry.path, entry.stat(follow_symlinks=False).st_size
            except OSError as exc:
                self._note(f"{rel}: {exc.strerror}; skipped")

    def count_bytes(self) -> int:
        """Walk once to learn the total size (for progress); notes from this walk are discarded."""
        saved, saved_skipped = list(self.notes), self.skipped
        total = sum(size for _, _, size in self.files())
        self.notes, self.skipped = saved, saved_skipped
        self.total_bytes = total
        return total

    def records(self, start=None) -> Iterator[Record]:
        for ordinal, (key, path, size) in enumerate(self.files()):
            yield Entry(key, None, None, None, False, path, None, ordinal, path=path, size=size)
            self._position += size
