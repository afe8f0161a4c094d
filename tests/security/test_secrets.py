"""Secrets and exposure: tokens never leak, the config stays private, the server stays on loopback, and directory
exports and imports stay inside their directory."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kvcli.api.models import BatchEntry
from tests.conftest import subprocess_env
from tests.reliability.conftest import Server, free_port, stored

TOKEN = "kvT0ken-9f3c1e7a5b2d4c6e8a0b"  # long and unique: any occurrence is a leak
OTHER = "someone-elses-token-1234567"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("secrets-server")
    s = Server(d / "data", token=TOKEN).start()
    from kvcli.api.http import HttpAdapter

    with HttpAdapter(s.url, TOKEN) as api:
        s.sid = api.create_store("secrets").id
        api.put_batch(s.sid, [BatchEntry(f"k{i}", b"v%d" % i, f"m{i}") for i in range(20)])
    yield s
    s.stop()


def _scan(root: Path, needle: bytes, skip: set[Path] = frozenset()) -> list[Path]:
    hits = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if p in skip or p.is_symlink():
                continue
            try:
                if needle in p.read_bytes():
                    hits.append(p)
            except OSError:
                pass
    return hits


def test_the_token_never_appears_in_output_errors_debug_dumps_or_written_files(server, cli, isolated, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "1")
    src = tmp_path / "in.ndjson"
    src.write_text('{"key":"n1","value":"YQ=="}\n{"key":"bad#key","value":"YQ=="}\n')
    assert cli("profile", "create", "work", "-t", TOKEN, "--endpoint", server.url).exit_code == 0
    sid = server.sid
    commands = [
        ["kv-store", "list"], ["kv-store", "list", "--json"], ["kv-store", "describe", "--store-id", sid],
        ["kv-store-entry", "list", "--store-id", sid, "--json"],
        ["kv-store-entry", "get", "--store-id", sid, "-k", "k1", "--json"],
        ["kv-store-entry", "describe", "--store-id", sid, "-k", "k1", "--json"],
        ["kv-store-entry", "create", "--store-id", sid, "-k", "new", "--value", "x", "--metadata", "m"],
        ["kv-store-entry", "create", "--store-id", sid, "--file", str(src), "--failed-out", str(tmp_path / "f.out")],
        ["kv-store-entry", "export", "--store-id", sid, "-O", str(tmp_path / "export.ndjson")],
        ["kv-store-entry", "export", "--store-id", sid, "--format", "dir", "-O", str(tmp_path / "export-dir")],
        ["kv-store-entry", "get", "--store-id", sid, "-k", "absent"],  # 404
        ["kv-store-entry", "get", "--store-id", "no-such-store", "-k", "k1"],  # 404
        ["kv-store-entry", "create", "--store-id", sid, "-k", "k1", "--value", "x", "--if-generation-match", "1"],
        ["service", "list"],
    ]
    ways = [
        ["-t", TOKEN, "--endpoint", server.url],
        ["--debug-mode", "-t", TOKEN, "--endpoint", server.url],
        ["--debug-mode", "-v", "-o", "work"],
    ]
    outputs = []
    for way in ways:
        for args in commands:
            res = cli(*way, *args)
            assert res.exit_code in (0, 3, 4, 7), (way, args, res)
            outputs.append(res)
    outputs.append(cli("--debug-mode", "-t", "work", "kv-store", "list"))  # -t NAME: the profile's token
    monkeypatch.setenv("FASTLY_API_TOKEN", TOKEN)
    monkeypatch.setenv("FASTLY_API_ENDPOINT", server.url)
    outputs += [cli("--debug-mode", *args) for args in commands[:4]]
    monkeypatch.delenv("FASTLY_API_TOKEN")
    # a wrong token (401), an unreachable endpoint, a refused token, an internal error with a traceback
    outputs.append(cli("--debug-mode", "-t", OTHER, "--endpoint", server.url, "kv-store", "list"))
    outputs.append(cli("--debug-mode", "-t", TOKEN, "--endpoint", f"http://127.0.0.1:{free_port()}", "kv-store",
                       "list"))
    outputs.append(cli("--debug-mode", "-t", TOKEN + "\n", "--endpoint", server.url, "kv-store", "list"))
    outputs.append(cli("-t", TOKEN + " ", "--endpoint", server.url, "kv-store", "list"))
    from kvcli.api.http import HttpAdapter

    def boom(self, *a, **k):
        raise RuntimeError("unexpected failure inside the adapter")

    monkeypatch.setattr(HttpAdapter, "list_stores", boom)
    internal = cli("--debug-mode", "-t", TOKEN, "--endpoint", server.url, "kv-store", "list")
    assert "Traceback" in internal.stderr and "internal error" in internal.stderr
    outputs.append(internal)

    debug = "".join(r.stderr for r in outputs)
    assert "[REDACTED]" in debug and "Fastly-Key" in debug  # the debug dumps were there, redacted
    assert any(r.exit_code == 5 for r in outputs)  # the wrong token was refused
    for r in outputs:
        assert TOKEN not in r.stdout and TOKEN not in r.stderr, r
        assert TOKEN.encode() not in r.stdout_bytes
    # nothing kvcli wrote (exports, failed-out, journals, data) holds it; only the 0600 config does
    config = isolated["config"] / "config.toml"
    assert TOKEN.encode() in config.read_bytes()
    for root in (tmp_path, isolated["data"], server.data_dir.parent):
        assert _scan(root, TOKEN.encode(), skip={config}) == []
    assert "Traceback" not in server.stderr()


def test_the_server_never_echoes_or_logs_a_presented_key(tmp_path):
    s = Server(tmp_path / "data", token=TOKEN)
    s.start()
    try:
        r = httpx.get(f"{s.url}/resources/stores/kv", headers={"Fastly-Key": OTHER})
        assert r.status_code == 401 and OTHER not in r.text and TOKEN not in r.text
        r = httpx.get(f"{s.url}/resources/stores/kv/nope/keys/x", headers={"Fastly-Key": TOKEN})
        assert r.status_code == 404 and TOKEN not in r.text
    finally:
        s.stop()
    assert OTHER not in s.stderr() and TOKEN not in s.stderr()


# -------------------------------------------------------------------------------------------- the config file
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_config_is_private_and_refused_once_others_can_read_it(server, cli, isolated):
    assert cli("profile", "create", "work", "-t", TOKEN, "--endpoint", server.url).exit_code == 0
    path = isolated["config"] / "config.toml"
    assert _mode(path) == 0o600 and _mode(path.parent) & 0o077 == 0
    assert cli("kv-store", "list", "--json").exit_code == 0  # private: the token is used
    for mode in (0o644, 0o640, 0o604):
        os.chmod(path, mode)
        res = cli("kv-store", "list", "--json")
        assert res.exit_code == 1 and res.stdout == "", res
        assert f"chmod 600 {path}" in res.stderr and "readable by other users" in res.stderr
        assert TOKEN not in res.stderr
        for refused in (["-o", "work", "kv-store", "list"], ["-t", "work", "kv-store", "list"]):
            assert cli(*refused).exit_code == 1
        listed = cli("profile", "list", "--json")  # what is in the file can still be looked at, without tokens
        assert listed.exit_code == 0 and TOKEN not in listed.stdout
    os.chmod(path, 0o600)
    assert cli("kv-store", "list", "--json").exit_code == 0
    assert cli("profile", "update", "work", "--endpoint", server.url).exit_code == 0
    assert _mode(path) == 0o600  # rewritten private


def test_a_local_profile_in_a_readable_config_is_not_refused(cli, isolated, tmp_path):
    """Only tokens are secret: a config without tokens may be readable (e.g. shared in a team's dotfiles)."""
    assert cli("profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "d")).exit_code == 0
    os.chmod(isolated["config"] / "config.toml", 0o644)
    assert cli("kv-store", "list", "--json").exit_code == 0


# ----------------------------------------------------------------------------------------- the local server
def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str, Path]:
    err = tmp_path / f"serve-{len(list(tmp_path.glob('serve-*')))}.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "local", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), *args],
        env=subprocess_env({"NO_COLOR": "1"}), stdout=subprocess.PIPE, stderr=open(err, "wb"),
    )
    url = proc.stdout.readline().decode().strip()
    return proc, url, err


def test_local_serve_binds_loopback_by_default(tmp_path):
    proc, url, _ = _serve(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:"), url
        port = int(url.rsplit(":", 1)[1])
        assert httpx.get(f"{url}/resources/stores/kv").status_code == 200
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
                pass
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_local_serve_warns_loudly_when_exposed_without_a_token_and_not_with_one(tmp_path):
    proc, url, err = _serve(tmp_path, "--host", "0.0.0.0")
    try:
        time.sleep(0.2)
        text = err.read_text()
        assert "WARNING" in text and "WITHOUT a token" in text and "--token" in text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    proc, url, err = _serve(tmp_path, "--host", "0.0.0.0", "--token", TOKEN)
    try:
        time.sleep(0.2)
        text = err.read_text()
        assert "WARNING" not in text and TOKEN not in text
        assert httpx.get(f"{url}/resources/stores/kv").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# ------------------------------------------------------------------------------------ directories stay closed
def test_export_to_a_directory_never_writes_outside_it(cli, isolated, tmp_path):
    from kvcli.local.engine import Engine

    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)  # planted before the export
    hostile = ["../escape", "a/../../escape", "/abs/escape", "sub//x", "link/pwn", "deep/../../../escape", "a/.",
               "link"]
    eng = Engine.in_dir(isolated["data"])
    sid = eng.create_store("paths").id
    eng.put_batch(sid, [BatchEntry(k, b"evil") for k in hostile] + [BatchEntry("ok/file", b"fine")])
    eng.close()
    res = cli("kv-store-entry", "export", "--store-id", sid, "--format", "dir", "-O", str(out), "--json")
    assert res.exit_code == 7, res  # reported as not exported
    report = res.json()
    assert report["exported"] == 1 and report["failed"] == len(hostile)
    assert {e["key"] for e in report["errors"]} == set(hostile)
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape").exists() and not Path("/abs/escape").exists()
    assert (out / "ok" / "file").read_bytes() == b"fine"
    assert (out / "link").is_symlink()  # left alone, not replaced or followed


def test_sync_delete_stays_under_its_prefix(cli, isolated, tmp_path):
    from kvcli.local.engine import Engine

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    eng = Engine.in_dir(isolated["data"])
    sid = eng.create_store("sync").id
    eng.put_batch(sid, [BatchEntry("site/old.html", b"x"), BatchEntry("other/keep", b"k"), BatchEntry("sitex", b"s")])
    eng.close()
    res = cli("kv-store-entry", "sync", "--store-id", sid, "--dir", str(site), "--prefix", "site/", "--delete", "-y")
    assert res.exit_code == 0, res
    content = stored(isolated["data"], sid)
    assert set(content) == {"site/index.html", "other/keep", "sitex"}
