"""`kv-store-entry export`: round trips export → import for every format, stdout piping, options and errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

BINARY = bytes(range(256))


def make_store(cli, name: str) -> str:
    res = cli("kv-store", "create", "--name", name, "--json")
    assert res.exit_code == 0, res
    return res.json()["StoreID"]


def put(cli, sid: str, key: str, value: bytes, *extra: str) -> None:
    res = cli("kv-store-entry", "create", "-s", sid, "-k", key, "--value-file", "-", *extra, input=value)
    assert res.exit_code == 0, res


def snapshot(cli, sid: str) -> dict[str, tuple[bytes, str, bool]]:
    """key -> (value, metadata, has expiry)."""
    res = cli("kv-store-entry", "export", "-s", sid)
    assert res.exit_code == 0, res
    out = {}
    for line in res.stdout.splitlines():
        x = json.loads(line)
        out[x["key"]] = (base64.b64decode(x["value"]), x.get("metadata", ""), "time_to_live_sec" in x)
    return out


@pytest.fixture
def source_store(cli) -> str:
    sid = make_store(cli, "source")
    put(cli, sid, "text", "héllo wörld".encode())
    put(cli, sid, "dir/nested/key.txt", b"nested")
    put(cli, sid, "with-meta", b"v", "--metadata", '{"owner":"me"}')
    put(cli, sid, "plain-meta", b"v", "--metadata", "just text")
    put(cli, sid, "expiring", b"soon", "--ttl", "3600")
    put(cli, sid, "empty", b"")
    return sid


def test_ndjson_round_trip_is_exact_including_binary(cli, source_store, tmp_path):
    put(cli, source_store, "binary", BINARY)
    out = tmp_path / "backup.ndjson"
    res = cli("kv-store-entry", "export", "-s", source_store, "-O", out, "--json")
    assert res.exit_code == 0, res
    assert res.json()["exported"] == 7 and res.json()["success"] is True
    target = make_store(cli, "target")
    res = cli("kv-store-entry", "create", "-s", target, "--file", out)
    assert res.exit_code == 0, res
    assert snapshot(cli, target) == snapshot(cli, source_store)


def test_export_piped_into_create_stdin(cli, source_store):
    exported = cli("kv-store-entry", "export", "-s", source_store)
    assert exported.exit_code == 0 and "Export summary" in exported.stderr
    target = make_store(cli, "copy")
    res = cli("kv-store-entry", "create", "-s", target, "--stdin", input=exported.stdout_bytes)
    assert res.exit_code == 0, res
    assert snapshot(cli, target) == snapshot(cli, source_store)


def test_wrangler_round_trip(cli, source_store, tmp_path):
    put(cli, source_store, "binary", BINARY)
    out = tmp_path / "bulk.json"
    assert cli("kv-store-entry", "export", "-s", source_store, "-f", "wrangler", "-O", out).exit_code == 0
    doc = json.loads(out.read_text())
    assert {x["key"]: x.get("metadata") for x in doc}["with-meta"] == {"owner": "me"}
    target = make_store(cli, "from-wrangler")
    res = cli("kv-store-entry", "create", "-s", target, "--file", out)
    assert res.exit_code == 0, res
    assert "detected format: wrangler" in res.stderr
    assert snapshot(cli, target) == snapshot(cli, source_store)


def test_viceroy_round_trip_of_text_values(cli, source_store, tmp_path):
    out = tmp_path / "store.json"
    res = cli("kv-store-entry", "export", "-s", source_store, "-f", "viceroy", "-O", out)
    assert res.exit_code == 0, res
    # only the TTL was dropped: the item itself is in the export, and the warning says so
    assert "viceroy format cannot hold expiry: exported 1 item without its expiry" in res.stderr
    assert "not exported" not in res.stderr and "expiring" in json.loads(out.read_text())
    target = make_store(cli, "from-viceroy")
    res = cli("kv-store-entry", "create", "-s", target, "--file", out)
    assert res.exit_code == 0, res
    assert "detected format: viceroy" in res.stderr
    src = {k: (v, m) for k, (v, m, _) in snapshot(cli, source_store).items()}
    assert {k: (v, m) for k, (v, m, _) in snapshot(cli, target).items()} == src
    # the same file works as a fastly.toml store for Viceroy and for kvcli
    (tmp_path / "fastly.toml").write_text('[local_server.kv_stores.s]\nfile = "store.json"\nformat = "json"\n')
    target2 = make_store(cli, "from-toml")
    assert cli("kv-store-entry", "create", "-s", target2, "--file", tmp_path / "fastly.toml").exit_code == 0
    assert {k: (v, m) for k, (v, m, _) in snapshot(cli, target2).items()} == src


def test_viceroy_refuses_binary_values_with_exit_7(cli, source_store, tmp_path):
    put(cli, source_store, "binary", BINARY)
    out = tmp_path / "store.json"
    res = cli("kv-store-entry", "export", "-s", source_store, "-f", "viceroy", "-O", out)
    assert res.exit_code == 7
    assert "'binary'" in res.stderr and "not UTF-8" in res.stderr
    assert "binary" not in json.loads(out.read_text())  # the file is still valid, without it


def test_dir_round_trip(cli, source_store, tmp_path):
    put(cli, source_store, "binary", BINARY)
    out = tmp_path / "tree"
    res = cli("kv-store-entry", "export", "-s", source_store, "-f", "dir", "-O", out)
    assert res.exit_code == 0, res
    assert (out / "dir" / "nested" / "key.txt").read_bytes() == b"nested"
    assert (out / "binary").read_bytes() == BINARY
    target = make_store(cli, "from-dir")
    res = cli("kv-store-entry", "create", "-s", target, "--dir", out, "--recursive")
    assert res.exit_code == 0, res
    assert {k: v for k, (v, _, _) in snapshot(cli, target).items()} == {
        k: v for k, (v, _, _) in snapshot(cli, source_store).items()
    }


def test_dir_export_refuses_unsafe_keys(cli, tmp_path):
    sid = make_store(cli, "unsafe")
    put(cli, sid, "../escape", b"x")
    put(cli, sid, "fine", b"y")
    out = tmp_path / "o"
    res = cli("kv-store-entry", "export", "-s", sid, "-f", "dir", "-O", out)
    assert res.exit_code == 7
    assert "'../escape'" in res.stderr
    assert not (tmp_path / "escape").exists() and (out / "fine").read_bytes() == b"y"


def test_prefix_and_empty_store(cli, source_store, tmp_path):
    res = cli("kv-store-entry", "export", "-s", source_store, "--prefix", "dir/")
    assert [json.loads(x)["key"] for x in res.stdout.splitlines()] == ["dir/nested/key.txt"]
    empty = make_store(cli, "empty-store")
    res = cli("kv-store-entry", "export", "-s", empty)
    assert res.exit_code == 0 and res.stdout == ""


def test_usage_errors(cli, source_store):
    res = cli("kv-store-entry", "export", "-s", source_store, "-f", "dir")
    assert res.exit_code == 2 and "--output" in res.stderr
    res = cli("kv-store-entry", "export", "-s", source_store, "--json")
    assert res.exit_code == 2 and "--output" in res.stderr
    res = cli("kv-store-entry", "export", "-s", source_store, "-f", "xml")
    assert res.exit_code == 2 and "unknown export format" in res.stderr
    res = cli("kv-store-entry", "export", "-s", "nope")
    assert res.exit_code == 3


def test_output_file_is_replaced_only_on_success(cli, source_store, tmp_path):
    out = tmp_path / "b.ndjson"
    out.write_text("previous backup\n")
    res = cli("kv-store-entry", "export", "-s", "missing-store", "-O", out)
    assert res.exit_code == 3
    assert out.read_text() == "previous backup\n"
    assert not Path(f"{out}.partial").exists()


@pytest.mark.timeout(60)  # the defect was a hang: fail instead of blocking the suite
def test_dir_export_refuses_fifos_and_devices_instead_of_hanging(cli, tmp_path):
    """A FIFO named like a key (or like one of its directories) used to block the export forever in open()."""
    import os

    sid = make_store(cli, "fifo")
    for key in ("plain", "fifo", "pipe-dir/inner", "sub/fifo2"):
        put(cli, sid, key, key.encode())
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.mkfifo(out / "fifo")
    os.mkfifo(out / "pipe-dir")
    os.mkfifo(out / "sub" / "fifo2")
    res = cli("kv-store-entry", "export", "-s", sid, "--format", "dir", "-O", str(out))
    assert res.exit_code == 7, res
    assert "Traceback" not in res.stderr
    assert (out / "plain").read_bytes() == b"plain"
    for key in ("fifo", "pipe-dir/inner", "sub/fifo2"):
        assert f"not exported: {key!r}" in res.stderr, res.stderr
    assert "not a regular file" in res.stderr and "exported 1" in res.stderr
    import stat

    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode), "the FIFO was replaced or written to"


@pytest.mark.timeout(60)
def test_dir_import_never_opens_a_fifo(cli, tmp_path):
    """A FIFO in an imported tree is skipped with a note; a file replaced by a FIFO after the walk is a failed
    record (open_regular never blocks)."""
    import os

    from kvcli.bulk.records import Entry
    from kvcli.bulk.validate import load_value

    sid = make_store(cli, "fifo-import")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok").write_bytes(b"1")
    os.mkfifo(tree / "pipe")
    res = cli("kv-store-entry", "create", "-s", sid, "--dir", str(tree))
    assert res.exit_code == 0, res
    assert "pipe: not a regular file; skipped" in res.stderr
    assert snapshot(cli, sid) == {"ok": (b"1", "", False)}

    swapped = Entry("k", None, file=str(tree / "pipe"), path=str(tree / "pipe"), size=3)
    assert load_value(swapped, 100) == f"cannot read {tree / 'pipe'}: not a regular file"
