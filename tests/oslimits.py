"""Real operating-system limits for tests: a small full file system, and commands run as an unprivileged user.

CI runs the suite as root, where permissions stop nothing: :func:`unprivileged` runs a command as ``nobody`` (via
``setpriv``) and :func:`shared_dir` gives a directory that user can reach (pytest's ``tmp_path`` is under a 0700
directory of root's). A full disk is a real tmpfs (:func:`small_tmpfs`, root only), so SQLite sees a real ENOSPC.

``nobody`` must also be able to import kvcli's dependencies. In a virtual environment under a world-readable
directory it can; when pip installed them into an interpreter under ``/root`` (CI installs README's command into the
machine's Python, no venv), it cannot, so :func:`unprivileged_argv` copies kvcli's runtime distributions, once per
session, into a directory ``nobody`` can read and puts it on ``PYTHONPATH``.
"""

from __future__ import annotations

import atexit
import functools
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


_PROBE = "import kvcli.cli.main, kvcli.local.server, uvicorn"  # the full CLI and the server, not just the fast path


def _runtime_distributions() -> list[str]:
    """kvcli's runtime requirements, transitively (no extras), as distribution names."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: dict[str, None] = {}
    todo = ["kvcli"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = None
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [n for n in seen if n != "kvcli"]


def _copy_distributions(dest: Path) -> None:
    from importlib import metadata

    for name in _runtime_distributions():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for rel in dist.files or []:
            src = Path(str(dist.locate_file(rel)))
            parts = Path(str(rel)).parts
            if ".." in parts or not src.is_file() or "__pycache__" in parts:
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    for root, dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def _probe(prefix: list[str], pythonpath: str) -> subprocess.CompletedProcess[bytes]:
    env = subprocess_env()
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([*prefix, sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120,
                          cwd=tempfile.gettempdir())


@functools.cache
def _nobody_pythonpath() -> str:
    """A PYTHONPATH under which the unprivileged user imports kvcli and everything it needs (skips if none)."""
    prefix = _drop_prefix()
    base = subprocess_env()["PYTHONPATH"]
    if not prefix or _probe(prefix, base).returncode == 0:
        return base
    mirror = Path(tempfile.mkdtemp(prefix="kvcli-nobody-site-"))
    atexit.register(shutil.rmtree, mirror, True)
    mirror.chmod(0o755)
    _copy_distributions(mirror)
    path = base + os.pathsep + str(mirror)
    done = _probe(prefix, path)
    if done.returncode != 0:
        pytest.skip("kvcli cannot be imported as an unprivileged user here: "
                    + done.stderr.decode(errors="replace").strip()[-300:])
    return path


def unprivileged_argv(args: list[str]) -> list[str]:
    """The argv that runs ``python -m kvcli ARGS`` as an unprivileged user (nobody when we are root)."""
    return [*_drop_prefix(), sys.executable, "-m", "kvcli", *args]


def unprivileged_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """:func:`tests.conftest.subprocess_env` with a PYTHONPATH the unprivileged user can import kvcli from."""
    env = subprocess_env(extra)
    env["PYTHONPATH"] = _nobody_pythonpath()
    return env


def unprivileged(
    args: list[str], env: dict[str, str], input: bytes | None = None, timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m kvcli ARGS`` as an unprivileged user (nobody when we are root)."""
    return subprocess.run(unprivileged_argv(args), env=unprivileged_env(env), input=input, capture_output=True,
                          timeout=timeout, cwd=cwd)


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
