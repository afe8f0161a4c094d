"""Import, export and sync end to end over real HTTP: kvcli's HTTP adapter against `kvcli local serve`."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

pytest.importorskip("kvcli.api.http", reason="the HTTP adapter is not built yet")
pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")

from tests.contract.conftest import ServedBackend  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    backend = ServedBackend(tmp_path_factory.mktemp("bulk-served"))
    yield backend
    backend.stop()


@pytest.fixture
def http(cli, server):
    """Run kvcli against the served backend; returns (run, store_id)."""

    def run(*args, input=None):
        return cli("--endpoint", server.url, "--token", server.token, *args, input=input)

    res = run("kv-store", "create", "--name", f"bulk-{uuid.uuid4().hex[:10]}", "--json")
    assert res.exit_code == 0, res
    return run, res.json()["StoreID"]


def line(key, value: bytes, **extra) -> str:
    return json.dumps({"key": key, "value": base64.b64encode(value).decode(), **extra})


def test_import_with_bad_lines_and_round_trip_over_http(http, tmp_path):
    run, sid = http
    p = tmp_path / "in.ndjson"
    p.write_text("\n".join(
        [line(f"k{i:03d}", bytes([i]) * 10) for i in range(250)]
        + [line("meta", b"m", metadata="x", time_to_live_sec=600), "broken", line("bad|key", b"v")]
    ) + "\n")
    res = run("kv-store-entry", "create", "-s", sid, "--file", p, "--batch-size", "40", "--concurrency", "3",
              "--json")
    assert res.exit_code == 7, res
    doc = res.json()
    assert (doc["written"], doc["failed"]) == (251, 2)
    assert {e["line"] for e in doc["errors"]} == {252, 253}
    exported = run("kv-store-entry", "export", "-s", sid, "--concurrency", "5")
    assert exported.exit_code == 0, exported
    rows = [json.loads(x) for x in exported.stdout.splitlines()]
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows) and len(rows) == 251
    by = {r["key"]: r for r in rows}
    assert base64.b64decode(by["k007"]["value"]) == bytes([7]) * 10
    assert by["meta"]["metadata"] == "x" and 0 < by["meta"]["time_to_live_sec"] <= 601  # expiry in whole seconds
    # and back into another store over HTTP
    res = run("kv-store", "create", "--name", f"copy-{uuid.uuid4().hex[:10]}", "--json")
    copy = res.json()["StoreID"]
    res = run("kv-store-entry", "create", "-s", copy, "--stdin", input=exported.stdout_bytes)
    assert res.exit_code == 0, res
    again = run("kv-store-entry", "export", "-s", copy)
    assert [json.loads(x)["key"] for x in again.stdout.splitlines()] == [r["key"] for r in rows]


def test_dir_and_sync_over_http(http, tmp_path):
    run, sid = http
    d = tmp_path / "site"
    (d / "a").mkdir(parents=True)
    for i in range(30):
        (d / "a" / f"f{i}.txt").write_bytes(f"file {i}".encode())
    res = run("kv-store-entry", "sync", "-s", sid, "--dir", d, "--json")
    assert res.exit_code == 0, res
    assert res.json()["uploaded"] == 30
    (d / "a" / "f3.txt").write_bytes(b"changed")
    (d / "a" / "f4.txt").unlink()
    res = run("kv-store-entry", "sync", "-s", sid, "--dir", d, "--delete", "--dry-run", "--json")
    plan = res.json()
    assert plan["counts"] == {"add": 0, "update": 1, "delete": 1, "unchanged": 28, "errors": 0}
    res = run("kv-store-entry", "sync", "-s", sid, "--dir", d, "--delete", "-y")
    assert res.exit_code == 0, res
    res = run("kv-store-entry", "get", "-s", sid, "-k", "a/f3.txt")
    assert res.stdout_bytes == b"changed"
