"""A full disk, a file size limit, a removed WAL and a read-only database: one clear line, never an internal error.

The disk-full tests use a real small tmpfs (root only), so SQLite meets a real ENOSPC; the read-only tests run
kvcli as an unprivileged user, since root ignores permissions.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kvcli.api.errors import StorageError
from kvcli.local.engine import DB_FILENAME, Engine
from tests.conftest import subprocess_env
from tests.oslimits import remount, shared_dir, small_tmpfs, unprivileged
from tests.served import LocalServe


def _kvcli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kvcli", *args], env=subprocess_env(env), capture_output=True, timeout=120, **kwargs
    )


def _one_error_line(stderr: bytes, starts: str) -> str:
    lines = [ln for ln in stderr.decode().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"Error: {starts}"), lines[0]
    assert "internal error" not in stderr.decode() and "Traceback" not in stderr.decode()
    assert "cannot rollback" not in stderr.decode()
    return lines[0]


def _ndjson(path: Path, count: int, size: int) -> Path:
    with path.open("w") as fh:
        for i in range(count):
            fh.write(json.dumps({"key": f"k{i:05d}", "value": "x" * size}) + "\n")
    return path


def _keys(data: Path, store: str) -> set[str]:
    eng = Engine(data / DB_FILENAME)
    try:
        sid = eng.find_store(store).id
        return {r[0] for r in eng.conn.execute("SELECT key FROM items WHERE store_id = ?", (sid,)).fetchall()}
    finally:
        eng.close()


# ------------------------------------------------------------------------------------------------ disk full
def test_create_on_a_full_disk_says_disk_full_in_one_line(tmp_path):
    with small_tmpfs(tmp_path / "fs", "1m") as fs:
        env = {"KVCLI_DATA_DIR": str(fs / "data")}
        assert _kvcli(["kv-store", "create", "--name", "s"], env).returncode == 0
        big = tmp_path / "big"
        big.write_bytes(os.urandom(2 * 1024 * 1024))
        res = _kvcli(["kv-store-entry", "create", "--store-name", "s", "-k", "k", "--value-file", str(big)], env)
        assert res.returncode == 1, res
        line = _one_error_line(res.stderr, "disk full: ")
        assert "free space" in line
        # nothing half-written, and the database is still sound and readable on the full disk
        eng = Engine(fs / "data" / DB_FILENAME)
        assert eng.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert _keys(fs / "data", "s") == set()
        eng.close()


def test_import_on_a_full_disk_prints_the_summary_and_resume_finishes_it(tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", 3000, 1000)  # ~3 MB of values, on a 2 MiB file system
    with small_tmpfs(tmp_path / "fs", "2m") as fs:
        env = {"KVCLI_DATA_DIR": str(fs / "data")}
        assert _kvcli(["kv-store", "create", "--name", "s"], env).returncode == 0
        args = ["kv-store-entry", "create", "--store-name", "s", "--file", str(source), "--batch-size", "200"]
        res = _kvcli(args, env)
        err = res.stderr.decode()
        assert res.returncode == 1, res
        _one_error_line(res.stderr, "import stopped: disk full: ")
        assert "--resume" in err
        summary = [ln for ln in err.splitlines() if ln.startswith("Import summary: written ")]
        assert len(summary) == 1, err
        written = int(re.match(r"Import summary: written ([\d,]+)", summary[0]).group(1).replace(",", ""))
        stored = _keys(fs / "data", "s")
        assert 0 < written < 3000
        assert len(stored) == written  # exactly what the summary says, nothing half-written
        assert err.count("disk full") <= 2  # once for the stop, not once per key
        remount(fs, "16m")
        res = _kvcli([*args, "--resume"], env)
        assert res.returncode == 0, res
        assert len(_keys(fs / "data", "s")) == 3000


def test_a_file_size_limit_is_reported_in_one_line(tmp_path, isolated):
    env = {"KVCLI_DATA_DIR": str(isolated["data"])}
    assert _kvcli(["kv-store", "create", "--name", "s"], env).returncode == 0
    big = tmp_path / "big"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    size = (isolated["data"] / DB_FILENAME).stat().st_size

    def limit() -> None:  # ulimit -f: writes past the limit fail with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 256 * 1024, size + 256 * 1024))

    res = _kvcli(
        ["kv-store-entry", "create", "--store-name", "s", "-k", "k", "--value-file", str(big)], env, preexec_fn=limit
    )
    assert res.returncode == 1, res
    assert "ulimit -f" in _one_error_line(res.stderr, "file size limit reached: ")


def test_local_serve_answers_507_on_a_full_disk_and_the_client_does_not_retry(tmp_path):
    with small_tmpfs(tmp_path / "fs", "1m") as fs:
        serve = LocalServe(fs / "data")
        try:
            env = {"KVCLI_DATA_DIR": str(tmp_path / "unused")}
            base = ["--endpoint", serve.url]
            assert _kvcli([*base, "kv-store", "create", "--name", "s"], env).returncode == 0
            big = tmp_path / "big"
            big.write_bytes(os.urandom(2 * 1024 * 1024))
            args = [*base, "--debug-mode", "kv-store-entry", "create", "--store-name", "s", "-k", "k"]
            res = _kvcli([*args, "--value-file", str(big)], env)
            assert res.returncode == 1, res
            lines = [ln for ln in res.stderr.decode().splitlines() if ln.startswith("Error: ")]
            assert len(lines) == 1, res  # (--debug-mode also prints the traceback)
            assert lines[0].startswith("Error: the Fastly API returned 507 Insufficient Storage: disk full: ")
            assert "try again later" not in lines[0]
            assert "retrying" not in res.stderr.decode()  # not transient: answered once, not five times
            assert "Traceback" not in serve.stderr()
            # the server keeps serving reads
            res = _kvcli([*base, "kv-store", "list", "--json"], env)
            assert res.returncode == 0 and json.loads(res.stdout)["Data"][0]["Name"] == "s"
        finally:
            serve.stop()


def test_engine_on_a_full_disk_raises_storage_error_and_stays_usable(tmp_path):
    with small_tmpfs(tmp_path / "fs", "1m") as fs:
        eng = Engine.in_dir(fs / "data")
        try:
            sid = eng.create_store("s").id
            eng.put_item(sid, "small", b"1")
            with pytest.raises(StorageError) as info:
                eng.put_item(sid, "big", os.urandom(2 * 1024 * 1024))
            assert info.value.storage == "full" and info.value.message.startswith("disk full: ")
            assert info.value.status == 507
            assert not eng.conn.in_transaction
            assert eng.get_item(sid, "small").value == b"1"
            eng.put_item(sid, "small", b"2")  # small writes still fit
            assert eng.get_item(sid, "small").value == b"2"
        finally:
            eng.close()


# ---------------------------------------------------------------------------------------------- removed WAL
def test_a_removed_wal_file_is_an_io_error_in_one_line(isolated):
    holder = Engine.in_dir(isolated["data"])  # another process still has the database open (kvcli local serve)
    try:
        sid = holder.create_store("s").id
        holder.put_item(sid, "a", b"1")
        os.unlink(isolated["data"] / (DB_FILENAME + "-wal"))
        res = _kvcli(["kv-store", "list"], {"KVCLI_DATA_DIR": str(isolated["data"])})
        assert res.returncode == 1, res
        line = _one_error_line(res.stderr, "I/O error on ")
        assert "kvcli.db-wal" in line
    finally:
        holder.close()


# -------------------------------------------------------------------------------------------------- read-only
def _populate(data: Path) -> str:
    eng = Engine.in_dir(data)
    sid = eng.create_store("s").id
    eng.put_item(sid, "a", b"one")
    eng.put_item(sid, "b", b"two")
    eng.close()  # a clean close checkpoints and removes the WAL
    return sid


@pytest.mark.parametrize("what", ["directory", "file"])
def test_reads_work_on_a_read_only_database_and_writes_say_read_only(what):
    with shared_dir() as root:
        data = root / "data"
        sid = _populate(data)
        db = data / DB_FILENAME
        db.chmod(0o444)
        if what == "directory":
            data.chmod(0o555)
        else:
            data.chmod(0o777)  # the directory is writable (SQLite may create -shm there), the file is not
        env = {"KVCLI_DATA_DIR": str(data), "KVCLI_CONFIG_DIR": str(root / "cfg")}
        res = unprivileged(["kv-store", "list", "--json"], env)
        assert res.returncode == 0, res
        assert [s["Name"] for s in json.loads(res.stdout)["Data"]] == ["s"]
        res = unprivileged(["kv-store-entry", "get", "--store-id", sid, "-k", "a"], env)
        assert (res.returncode, res.stdout) == (0, b"one"), res
        res = unprivileged(["kv-store-entry", "get", "--store-name", "s", "-k", "b", "-v"], env)  # -v: the full CLI
        assert (res.returncode, res.stdout) == (0, b"two"), res
        res = unprivileged(["kv-store-entry", "list", "--store-id", sid], env)
        assert res.returncode == 0 and res.stdout.split() == [b"a", b"b"], res
        res = unprivileged(["kv-store-entry", "create", "--store-id", sid, "-k", "c", "--value", "3"], env)
        assert res.returncode == 1, res
        line = _one_error_line(res.stderr, "read-only database: ")
        assert "writable" in line
        res = unprivileged(["kv-store", "create", "--name", "t"], env)
        assert res.returncode == 1
        _one_error_line(res.stderr, "read-only database: ")
        data.chmod(0o755)
        assert sqlite3.connect(db).execute("SELECT count(*) FROM items").fetchone()[0] == 2


def test_a_missing_database_in_a_read_only_directory_is_one_line():
    with shared_dir() as root:
        data = root / "data"
        data.mkdir(mode=0o555)
        data.chmod(0o555)
        res = unprivileged(["kv-store", "list"], {"KVCLI_DATA_DIR": str(data), "KVCLI_CONFIG_DIR": str(root / "c")})
        assert res.returncode == 1, res
        _one_error_line(res.stderr, "read-only data directory: ")


def test_an_import_through_local_serve_on_a_full_disk_stops_once_with_its_summary(tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", 3000, 1000)
    with small_tmpfs(tmp_path / "fs", "2m") as fs:
        serve = LocalServe(fs / "data")
        try:
            env = {"KVCLI_DATA_DIR": str(tmp_path / "client")}
            base = ["--endpoint", serve.url]
            assert _kvcli([*base, "kv-store", "create", "--name", "s"], env).returncode == 0
            args = [*base, "kv-store-entry", "create", "--store-name", "s", "--file", str(source)]
            args += ["--batch-size", "200"]
            res = _kvcli(args, env)
            err = res.stderr.decode()
            assert res.returncode == 1, res
            _one_error_line(res.stderr, "import stopped: the Fastly API returned 507 Insufficient Storage: disk full: ")
            assert "--resume" in err
            summary = [ln for ln in err.splitlines() if ln.startswith("Import summary: written ")]
            assert len(summary) == 1, err
            written = int(re.match(r"Import summary: written ([\d,]+)", summary[0]).group(1).replace(",", ""))
            assert 0 < written < 3000
            assert len(_keys(fs / "data", "s")) == written
        finally:
            serve.stop()


def test_local_serve_on_a_read_only_database_serves_reads_and_answers_507_to_writes():
    from tests.oslimits import unprivileged_argv, unprivileged_env

    with shared_dir() as root:
        data = root / "data"
        sid = _populate(data)
        (data / DB_FILENAME).chmod(0o444)
        data.chmod(0o555)
        argv = unprivileged_argv(["local", "serve", "--port", "0", "--data-dir", str(data)])
        err_path = root / "serve.err"
        with err_path.open("wb") as err_file:
            proc = subprocess.Popen(argv, env=unprivileged_env(), stdout=subprocess.PIPE, stderr=err_file)
            try:
                url = proc.stdout.readline().decode().strip()
                assert url.startswith("http://"), err_path.read_text()
                env = {"KVCLI_DATA_DIR": str(root / "client")}
                res = _kvcli(["--endpoint", url, "kv-store-entry", "get", "-s", sid, "-k", "a"], env)
                assert (res.returncode, res.stdout) == (0, b"one"), res
                res = _kvcli(["--endpoint", url, "kv-store-entry", "create", "-s", sid, "-k", "c", "--value", "3"], env)
                assert res.returncode == 1, res
                _one_error_line(res.stderr, "the Fastly API returned 507 Insufficient Storage: read-only database: ")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
                proc.stdout.close()
        assert "Traceback" not in err_path.read_text()


def test_unfolded_wal_changes_in_a_read_only_directory_are_explained_in_one_line():
    import shutil

    with shared_dir() as root:
        source, data = root / "source", root / "data"
        holder = Engine.in_dir(source)  # open: its changes are still in kvcli.db-wal, not yet in kvcli.db
        try:
            holder.put_item(holder.create_store("s").id, "a", b"1")
            data.mkdir()
            for name in (DB_FILENAME, DB_FILENAME + "-wal"):  # no -shm: the reader would have to create it
                shutil.copy(source / name, data / name)
        finally:
            holder.close()
        assert (data / (DB_FILENAME + "-wal")).stat().st_size > 0
        for f in data.iterdir():
            f.chmod(0o444)
        data.chmod(0o555)
        res = unprivileged(["kv-store", "list"], {"KVCLI_DATA_DIR": str(data), "KVCLI_CONFIG_DIR": str(root / "c")})
        assert res.returncode == 1, res
        line = _one_error_line(res.stderr, "read-only database: ")
        assert "kvcli.db-wal" in line and "kvcli.db-shm" in line
