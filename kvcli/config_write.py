"""Writing kvcli's config file: atomically (temp file, fsync, rename), mode 0600, under the config lock.

:func:`editing` is a locked read-modify-write, :func:`save` the atomic replace; see :mod:`kvcli.config`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kvcli.config_file import Config, config_path, load, warn_if_shared_dir


def _write_target(path: Path) -> Path:
    """The file a write of ``path`` replaces: ``path`` itself, or the file its symlink (chain) points to."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and every missing parent with mode 0700 (whatever the umask); existing ones are kept."""
    missing: list[Path] = []
    d = directory
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by another process
            continue
        os.chmod(d, 0o700)


_held_locks: set[str] = set()


@contextmanager
def _config_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock between kvcli processes for a read-modify-write of the config in ``directory``.

    POSIX: ``flock`` on the directory itself (its inode survives the atomic replace of the file, and no lock file is
    left behind); the kernel releases it when the holder dies, even by kill -9. Windows: ``msvcrt.locking`` on a lock
    file in the directory, best effort. Re-entrant within one process (``save`` inside ``editing``).
    """
    key = os.path.realpath(directory)
    if key in _held_locks:
        yield
        return
    fd: int | None = None
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            fd = os.open(os.path.join(key, ".kvcli-config.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for ~10 s, then OSError: retry again
                    break
                except OSError:
                    continue
        else:
            import fcntl

            fd = os.open(key, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # pragma: no cover - a file system without locks: proceed unlocked rather than fail
        if fd is not None:
            os.close(fd)
        fd = None
    _held_locks.add(key)
    try:
        yield
    finally:
        _held_locks.discard(key)
        if fd is not None:
            os.close(fd)  # closing releases the lock


@contextmanager
def editing(path: Path | None = None) -> Iterator[Config]:
    """Load the config for a change, holding the config lock until the block ends (call :func:`save` inside).

    Concurrent ``profile create``s and friends then take turns instead of each saving what it read before the
    others wrote (which lost profiles).
    """
    path = config_path() if path is None else path
    directory = _write_target(path).parent
    _make_private_dirs(directory)
    with _config_lock(directory):
        yield load(path)


def _remove_stale_temp_files(directory: Path, target: Path) -> None:
    """Temp files of writers that died mid-write (kill -9) may hold tokens: remove them. Called with the lock held,
    when no live kvcli is writing one."""
    for pattern in (f".{target.name}.*.tmp", ".config.*.tmp"):
        for stale in directory.glob(pattern):
            try:
                stale.unlink()
            except OSError:
                pass


def save(cfg: Config) -> None:
    """Write atomically with mode 0600: temp file in the same directory, fsync, rename.

    A symlinked config file is written through: its target is replaced (atomically), the link stays. Missing
    directories are created 0700; stale temp files of interrupted writes are removed.
    """
    import tomli_w

    data: dict = {}
    if cfg.default_profile:
        data["default_profile"] = cfg.default_profile
    data["profiles"] = {name: p.to_toml() for name, p in sorted(cfg.profiles.items())}
    text = tomli_w.dumps(data)
    target = _write_target(cfg.path)
    directory = target.parent
    _make_private_dirs(directory)
    warn_if_shared_dir(directory)
    import tempfile

    with _config_lock(directory):
        _remove_stale_temp_files(directory, target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
