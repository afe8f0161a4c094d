"""Directories kvcli cannot read (``chmod 000``) never cost data: ``sync --delete`` keeps the keys under them and
``create --dir`` reports them; both exit non-zero naming the path.

Permissions stop nothing for root, so kvcli runs as ``nobody`` (``setpriv``) when the tests run as root; the test
tree lives in a directory that user owns. Skipped when privileges cannot be dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.oslimits import NOBODY, is_root, unprivileged_argv, unprivileged_env


class Unprivileged:
    """Runs ``python -m kvcli`` as a user for whom ``chmod 000`` means something."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.config = root / "config"

    def chown(self, path: Path) -> None:
        if is_root():
            os.chown(path, NOBODY, NOBODY)

    def mkdir(self, rel: str) -> Path:
        p = self.root / rel
        p.mkdir(parents=True)
        for q in [p, *p.parents]:
            if q == self.root:
                break
            self.chown(q)
        return p

    def write(self, rel: str, data: bytes) -> Path:
        p = self.root / rel
        p.write_bytes(data)
        self.chown(p)
        return p

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        env = unprivileged_env({"KVCLI_DATA_DIR": str(self.data), "KVCLI_CONFIG_DIR": str(self.config),
                                "KVCLI_NO_PROGRESS": "1", "HOME": str(self.root)})
        for name in ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "KVCLI_PROFILE", "FASTLY_DEBUG_MODE"):
            env.pop(name, None)
        return subprocess.run(unprivileged_argv(list(args)), env=env, input=stdin, capture_output=True, timeout=120,
                              cwd=self.root)


@pytest.fixture
def nobody():
    # not under pytest's tmp_path: its parents are private to root
    root = Path(tempfile.mkdtemp(prefix="kvcli-unreadable-"))
    os.chmod(root, 0o755)
    u = Unprivileged(root)
    u.chown(root)
    probe = u.run("--version")
    if probe.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"kvcli cannot run as an unprivileged user here: {probe.stderr.decode()[-300:]}")
    try:
        yield u
    finally:
        for dirpath, dirnames, _ in os.walk(root):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        os.chmod(root, 0o755)
        shutil.rmtree(root, ignore_errors=True)


def _store(u: Unprivileged) -> str:
    res = u.run("kv-store", "create", "--name", "site", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["StoreID"]


def _keys(u: Unprivileged, sid: str) -> list[str]:
    res = u.run("kv-store-entry", "list", "--store-id", sid, "--json")
    assert res.returncode == 0, res.stderr
    return sorted(json.loads(res.stdout))


@pytest.fixture
def synced(nobody):
    """A directory with a sub-directory, synced once: the store holds a, sub/b and sub/deep/c."""
    u = nobody
    u.mkdir("site/sub/deep")
    u.write("site/a", b"A")
    u.write("site/sub/b", b"B")
    u.write("site/sub/deep/c", b"C")
    sid = _store(u)
    res = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(u.root / "site"), "--delete", "-y")
    assert res.returncode == 0, res.stderr
    assert _keys(u, sid) == ["a", "sub/b", "sub/deep/c"]
    return u, sid


def test_sync_delete_keeps_the_keys_of_an_unreadable_subdirectory_and_exits_non_zero(synced):
    u, sid = synced
    site = u.root / "site"
    (site / "new").write_bytes(b"N")
    u.chown(site / "new")
    os.chmod(site / "sub", 0)
    plan = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--delete", "--dry-run")
    out, err = plan.stdout.decode(), plan.stderr.decode()
    assert plan.returncode == 7, err
    assert "delete" not in out, out  # nothing under sub/ is planned for deletion
    assert "add     new" in out
    assert str(site / "sub") in err and "Traceback" not in err
    plan_json = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--delete", "--dry-run",
                      "--json")
    doc = json.loads(plan_json.stdout)
    assert doc["delete"] == [] and doc["unreadable"][0]["path"] == str(site / "sub")

    res = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--delete", "-y")
    err = res.stderr.decode()
    assert res.returncode == 7, err
    assert _keys(u, sid) == ["a", "new", "sub/b", "sub/deep/c"], "keys under the unreadable path were deleted"
    error_lines = [x for x in err.splitlines() if x.startswith("Error:")]
    assert len(error_lines) == 1 and str(site / "sub") in error_lines[0], err
    assert "partial" in err.lower(), err  # the sync of what could be read is said to be partial
    assert "Traceback" not in err


def test_sync_delete_of_an_unreadable_root_deletes_nothing(synced):
    u, sid = synced
    site = u.root / "site"
    os.chmod(site, 0)
    for extra in (["--dry-run"], ["-y"]):
        res = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--delete", *extra)
        err = res.stderr.decode()
        assert res.returncode != 0, err
        assert str(site) in err and "Traceback" not in err
        assert "delete  " not in res.stdout.decode()
        assert _keys(u, sid) == ["a", "sub/b", "sub/deep/c"]


def test_sync_keeps_the_key_of_a_file_it_cannot_stat(synced):
    """A directory that can be listed but not searched (r, no x): the names are known, the files are not."""
    u, sid = synced
    site = u.root / "site"
    os.chmod(site / "sub", 0o444)
    res = u.run("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--delete", "-y")
    err = res.stderr.decode()
    assert res.returncode == 7, err
    assert _keys(u, sid) == ["a", "sub/b", "sub/deep/c"]
    assert "sub/b" in err or str(site / "sub") in err


def test_dir_import_reports_an_unreadable_subdirectory(nobody):
    u = nobody
    u.mkdir("tree/locked")
    u.write("tree/ok", b"1")
    u.write("tree/locked/x", b"2")
    sid = _store(u)
    os.chmod(u.root / "tree" / "locked", 0)
    res = u.run("kv-store-entry", "create", "--store-id", sid, "--dir", str(u.root / "tree"), "--recursive")
    err = res.stderr.decode()
    assert res.returncode == 7, err
    assert str(u.root / "tree" / "locked") in err and "Permission denied" in err, err
    assert "written 1" in err
    assert _keys(u, sid) == ["ok"]
    assert "Traceback" not in err
