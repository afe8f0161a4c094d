"""The official Fastly CLI's `kv-store` and `kv-store-entry` commands against `kvcli local serve`.

The binary runs with FASTLY_API_ENDPOINT / FASTLY_ACCOUNT_ENDPOINT pointing at the server, a token, a scratch HOME
and `-q` (its update check cannot reach the internet). Outcomes are checked in its output and exit code, and in the
served database through the engine.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from kvcli.api.errors import NotFound
from kvcli.api.models import BatchEntry
from tests.conformance.conftest import TOKEN, official_cli_path, official_env, require_or_skip

pytestmark = pytest.mark.conformance

SPINNER = re.compile(r"^[|/\\-] ")


@pytest.fixture(scope="module")
def fastly_bin() -> Path:
    path = official_cli_path()
    if path is None:
        require_or_skip("the official Fastly CLI binary ($KVCLI_FASTLY_BIN)")
    return path


@pytest.fixture(scope="module")
def fastly_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fastly-home")


@pytest.fixture
def fastly(fastly_bin, kv_server, fastly_home):
    """Run the official CLI with -q against the server; returns the CompletedProcess (text)."""

    def run(*args: str, token: str = TOKEN, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = official_env(fastly_home, kv_server.url, token)
        return subprocess.run(
            [str(fastly_bin), "-q", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


def as_json(proc: subprocess.CompletedProcess):
    return json.loads(ok(proc).stdout)


def lines(stdout: str) -> list[str]:
    """Output lines without the non-TTY spinner's progress lines."""
    return [ln for ln in stdout.splitlines() if ln and not SPINNER.match(ln) and not ln.startswith("✓")]


# ---------------------------------------------------------------------------------------------------- stores
def test_store_create_list_describe_delete(fastly, kv_engine):
    name = f"cli-{uuid.uuid4().hex[:10]}"
    created = as_json(fastly("kv-store", "create", "--name", name, "--json"))
    sid = created["StoreID"]
    assert re.fullmatch(r"[a-z0-9]{22}", sid) and created["Name"] == name
    assert created["CreatedAt"].endswith("Z")  # the CLI parsed our "YYYY-MM-DD HH:MM:SS" timestamps
    assert kv_engine.get_store(sid).name == name

    eu = ok(fastly("kv-store", "create", "--name", name + "-eu", "--location", "EU"))
    eu_store = kv_engine.find_store(name + "-eu")
    assert f"SUCCESS: Created KV Store '{name}-eu' ({eu_store.id})" in eu.stdout + eu.stderr
    assert eu_store.location == "EU"

    dup = fastly("kv-store", "create", "--name", name)
    assert dup.returncode == 1 and "400 Bad Request" in dup.stderr

    listed = as_json(fastly("kv-store", "list", "--json"))
    ids = [s["StoreID"] for s in listed["Data"]]
    assert sid in ids and eu_store.id in ids
    assert listed["Meta"]["limit"] == "1000"
    text = ok(fastly("kv-store", "list")).stdout
    assert f"ID: {sid}\nName: {name}\nCreated (UTC): " in text

    described = as_json(fastly("kv-store", "describe", "--store-id", sid, "--json"))
    assert described["StoreID"] == sid and described["Name"] == name
    assert f"ID: {sid}" in ok(fastly("kv-store", "get", "-s", sid)).stdout

    assert as_json(fastly("kv-store", "delete", "-s", sid, "--json")) == {"id": sid, "deleted": True}
    with pytest.raises(NotFound):
        kv_engine.get_store(sid)
    missing = fastly("kv-store", "describe", "-s", sid)
    assert missing.returncode == 1 and "404 Not Found: Record not found" in missing.stderr
    ok(fastly("kv-store", "delete", "-s", eu_store.id))


def test_a_non_empty_store_is_refused_then_deleted_with_all(fastly, kv_engine, kv_store):
    kv_engine.put_batch(kv_store.id, [BatchEntry(key=f"k{i}", value=b"v") for i in range(30)])
    refused = fastly("kv-store", "delete", "-s", kv_store.id)
    assert refused.returncode == 1 and "409 Conflict" in refused.stderr
    assert kv_engine.get_store(kv_store.id)
    out = ok(fastly("kv-store", "delete", "-s", kv_store.id, "--all", "-y")).stdout
    assert "Deleted keys: 30" in out and f"SUCCESS: Deleted KV Store '{kv_store.id}'" in out
    with pytest.raises(NotFound):
        kv_engine.get_store(kv_store.id)


def test_a_wrong_token_is_401(fastly):
    proc = fastly("kv-store", "list", token="not-the-token")
    assert proc.returncode == 1 and "401 Unauthorized" in proc.stderr


# ---------------------------------------------------------------------------------------------------- entries
def test_entry_create_get_describe_and_flags(fastly, kv_engine, kv_store):
    sid, key = kv_store.id, "dir/sub key é"
    out = ok(fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", "hello", "--metadata", "m1"))
    assert f"SUCCESS: Created key '{key}' in KV Store '{sid}'" in out.stdout + out.stderr
    item = kv_engine.get_item(sid, key)
    assert item.value == b"hello" and item.info.metadata == "m1"

    assert ok(fastly("kv-store-entry", "get", "-s", sid, "-k", key)).stdout == "hello"
    assert as_json(fastly("kv-store-entry", "get", "-s", sid, "-k", "dir/sub key é", "--json")) == {
        key: base64.b64encode(b"hello").decode()
    }
    described = as_json(fastly("kv-store-entry", "describe", "-s", sid, "-k", key, "--json"))
    assert described == {"generation": str(item.info.generation), "key": key, "metadata": "m1"}

    exists = fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", "x", "--add")
    assert exists.returncode == 1 and "412 Precondition Failed" in exists.stderr
    assert kv_engine.get_item(sid, key).value == b"hello"

    ok(fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", "!", "--append"))
    ok(fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", ">>", "--prepend", "--background-fetch"))
    item = kv_engine.get_item(sid, key)
    assert item.value == b">>hello!" and item.info.metadata == ""  # writes without --metadata clear it

    gen = item.info.generation
    stale = fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", "y", f"--if-generation-match={gen + 1}")
    assert stale.returncode == 1 and "412" in stale.stderr
    ok(fastly("kv-store-entry", "create", "-s", sid, "-k", key, "--value", "z", f"--if-generation-match={gen}"))
    assert kv_engine.get_item(sid, key).value == b"z"

    missing = fastly("kv-store-entry", "get", "-s", sid, "-k", "nope")
    assert missing.returncode == 1 and "404 Not Found" in missing.stderr


def test_entry_list_follows_cursors_past_1000_keys_and_filters_by_prefix(fastly, kv_engine, kv_store):
    keys = sorted([f"p-{i:05d}" for i in range(1150)] + [f"q/{i}" for i in range(60)] + ["a/b c:d%e"])
    assert kv_engine.put_batch(kv_store.id, [BatchEntry(key=k, value=b"") for k in keys]).errors == []
    assert as_json(fastly("kv-store-entry", "list", "-s", kv_store.id, "--json")) == keys
    assert as_json(fastly("kv-store-entry", "list", "-s", kv_store.id, "--prefix", "q/", "--json")) == [
        k for k in keys if k.startswith("q/")
    ]
    eventual = as_json(fastly("kv-store-entry", "list", "-s", kv_store.id, "--consistency", "eventual", "--json"))
    assert eventual == keys
    text = ok(fastly("kv-store-entry", "list", "-s", kv_store.id, "--prefix", "p-0000"))
    assert lines(text.stdout) == [f"p-{i:05d}" for i in range(10)]


def test_entry_delete_single_force_prefix_and_all(fastly, kv_engine, kv_store):
    sid = kv_store.id
    keys = [f"x/{i:03d}" for i in range(120)] + [f"y/{i:03d}" for i in range(40)] + ["single"]
    kv_engine.put_batch(sid, [BatchEntry(key=k, value=b"v") for k in keys])

    assert as_json(fastly("kv-store-entry", "delete", "-s", sid, "-k", "single", "--json")) == {
        "key": "single",
        "store_id": sid,
        "deleted": True,
    }
    assert "single" not in kv_engine.list_keys(sid).items
    again = fastly("kv-store-entry", "delete", "-s", sid, "-k", "single")
    assert again.returncode == 1 and "404 Not Found" in again.stderr
    ok(fastly("kv-store-entry", "delete", "-s", sid, "-k", "single", "--force"))

    out = ok(fastly("kv-store-entry", "delete", "-s", sid, "--prefix", "x/", "-y")).stdout
    assert f"SUCCESS: Deleted 120 keys from KV Store '{sid}'" in out
    assert kv_engine.list_keys(sid).items == [f"y/{i:03d}" for i in range(40)]

    out = ok(fastly("kv-store-entry", "delete", "-s", sid, "--all", "-y")).stdout
    assert f"SUCCESS: Deleted all keys from KV Store '{sid}'" in out
    assert kv_engine.list_keys(sid).items == []


# ------------------------------------------------------------------------------------------------- bulk import
def test_batch_import_with_file(fastly, kv_engine, kv_store, tmp_path):
    sid = kv_store.id
    records = [{"key": f"f-{i:04d}", "value": base64.b64encode(f"value {i}".encode()).decode()} for i in range(1100)]
    records[3]["metadata"] = "meta-3"
    records[4]["time_to_live_sec"] = 3600
    records[5]["value"] = base64.b64encode(b"\x00\x01\xfe\xff").decode()
    path = tmp_path / "in.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    out = ok(fastly("kv-store-entry", "create", "-s", sid, "--file", str(path)))
    assert "SUCCESS: Inserted keys into KV Store" in out.stdout + out.stderr
    assert len(kv_engine.list_keys(sid, prefix="f-").items) == 1000  # (one page)
    assert kv_engine.list_keys(sid, prefix="f-1").items == [f"f-{i:04d}" for i in range(1000, 1100)]
    assert kv_engine.get_item(sid, "f-0003").info.metadata == "meta-3"
    assert kv_engine.describe_item(sid, "f-0004").expires_at is not None
    assert kv_engine.get_item(sid, "f-0005").value == b"\x00\x01\xfe\xff"
    assert kv_engine.get_item(sid, "f-1099").value == b"value 1099"

    stdin = json.dumps({"key": "from-stdin", "value": base64.b64encode(b"piped").decode()}) + "\n"
    ok(fastly("kv-store-entry", "create", "-s", sid, "--stdin", stdin=stdin))
    assert kv_engine.get_item(sid, "from-stdin").value == b"piped"


def test_batch_import_errors_are_reported_by_index(fastly, kv_engine, kv_store, tmp_path):
    sid = kv_store.id
    path = tmp_path / "bad.ndjson"
    path.write_text(
        '{"key":"good-0","value":"Zw=="}\n'
        '{"key":"bad#key","value":"Zw=="}\n'
        '{"key":"good-2","value":"Zw=="}\n'
        '{"key":"bad-64","value":"%%%"}\n'
    )
    proc = fastly("kv-store-entry", "create", "-s", sid, "--file", str(path))
    assert proc.returncode == 1 and "400 Bad Request" in proc.stderr
    assert "Title: error at index: 1" in proc.stdout and "Title: error at index: 3" in proc.stdout
    assert kv_engine.list_keys(sid).items == ["good-0", "good-2"]  # good lines are applied

    as_json_out = json.loads(fastly("kv-store-entry", "create", "-s", sid, "--file", str(path), "--json").stdout)
    assert as_json_out["success"] is False
    assert [e["title"] for e in as_json_out["errors"]] == ["error at index: 1", "error at index: 3"]
    assert all(e["code"] == "400" for e in as_json_out["errors"])


def test_dir_import(fastly, kv_engine, kv_store, tmp_path):
    sid = kv_store.id
    d = tmp_path / "files"
    d.mkdir()
    (d / "plain.txt").write_text("one\n")
    (d / "binary.bin").write_bytes(bytes(range(256)))
    (d / "empty").write_bytes(b"")
    (d / ".hidden").write_text("secret")
    (d / "sub").mkdir()
    (d / "sub" / "nested").write_text("no")
    out = ok(fastly("kv-store-entry", "create", "-s", sid, "--dir", str(d)))
    assert "SUCCESS: Inserted 3 keys into KV Store" in out.stdout
    assert kv_engine.list_keys(sid).items == ["binary.bin", "empty", "plain.txt"]
    assert kv_engine.get_item(sid, "binary.bin").value == bytes(range(256))
    assert kv_engine.get_item(sid, "plain.txt").value == b"one\n"
    assert kv_engine.get_item(sid, "empty").value == b""

    ok(fastly("kv-store-entry", "create", "-s", sid, "--dir", str(d), "--dir-allow-hidden"))
    assert kv_engine.get_item(sid, ".hidden").value == b"secret"
