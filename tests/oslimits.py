"""Real operating-system limits for tests: a small full file system, and commands run as an unprivileged user.

CI runs the suite as root, where permissions stop nothing: :func:`unprivileged` runs a command as ``nobody`` (via
``setpriv``) and :func:`shared_dir` gives a directory that user can reach (pytest's ``tmp_path`` is under a 0700
directory of root's). A full disk is a real tmpfs (:func:`small_tmpfs`, root only), so SQLite sees a real ENOSPC.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

NOBODY = 65534


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _drop_prefix() -> list[str]:
    """The argv prefix that runs a command without privileges (empty when we already have none)."""
    if not is_root():
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test permissions")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def unprivileged(
    args: list[str], env: dict[str, str], input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m kvcli ARGS`` as an unprivileged user (nobody when we are root)."""
    argv = [*_drop_prefix(), sys.executable, "-m", "kvcli", *args]
    return subprocess.run(argv, env=subprocess_env(env), input=input, capture_output=True, timeout=timeout)


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh directory (mode 0755) outside pytest's private tmp tree, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="kvcli-test-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        for root, dirs, _files in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        path.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def small_tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``where`` (root only; skipped otherwise) and unmount it afterwards."""
    if not is_root() or shutil.which("mount") is None:
        pytest.skip("a real full file system needs root (mount -t tmpfs)")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, size: str) -> None:
    """Grow (or shrink) a tmpfs from :func:`small_tmpfs`."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True, capture_output=True)
