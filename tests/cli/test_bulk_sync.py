"""`kv-store-entry sync --dir`: dry-run plans (text and JSON), applying, idempotence, --delete confirmation."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest


def keys(cli, sid) -> dict[str, bytes]:
    res = cli("kv-store-entry", "export", "-s", sid)
    return {x["key"]: base64.b64decode(x["value"]) for x in map(json.loads, res.stdout.splitlines())}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    d = tmp_path / "site"
    (d / "css").mkdir(parents=True)
    (d / "index.html").write_bytes(b"<h1>hi</h1>")
    (d / "css" / "main.css").write_bytes(b"body{}")
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_bytes(b"ref")
    return d


def test_dry_run_changes_nothing_and_prints_the_plan(cli, store_id, site):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "stale", "--value", "x")
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete", "--dry-run")
    assert res.exit_code == 0, res
    assert res.stdout.splitlines() == ["add     css/main.css", "add     index.html", "delete  stale"]
    assert "2 to add, 0 to update, 1 to delete, 0 unchanged" in res.stderr
    assert keys(cli, store_id) == {"stale": b"x"}
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete", "--dry-run", "--json")
    plan = res.json()
    assert plan["counts"] == {"add": 2, "update": 0, "delete": 1, "unchanged": 0, "errors": 0}
    assert plan["dry_run"] is True and plan["delete"] == ["stale"]


def test_sync_applies_then_is_idempotent_then_picks_up_changes(cli, store_id, site):
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--json")
    assert res.exit_code == 0, res
    assert res.json()["uploaded"] == 2 and res.json()["plan"]["add"] == 2
    assert keys(cli, store_id) == {"index.html": b"<h1>hi</h1>", "css/main.css": b"body{}"}  # .git skipped
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--dry-run", "--json")
    assert res.json()["counts"]["unchanged"] == 2 and res.json()["add"] == [] and res.json()["update"] == []
    (site / "index.html").write_bytes(b"<h1>changed</h1>")
    (site / "new.txt").write_bytes(b"new")
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--json")
    doc = res.json()
    assert doc["plan"] == {"add": 1, "update": 1, "delete": 0, "unchanged": 1, "errors": 0}
    assert keys(cli, store_id)["index.html"] == b"<h1>changed</h1>"


def test_keys_written_by_others_are_updated_once(cli, store_id, site):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "index.html", "--value", "<h1>hi</h1>")
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--dry-run", "--json")
    assert res.json()["update"] == [{"key": "index.html", "reason": "no content hash in metadata"}]
    assert cli("kv-store-entry", "sync", "-s", store_id, "--dir", site).exit_code == 0
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--dry-run", "--json")
    assert res.json()["update"] == []


def test_delete_needs_confirmation_without_a_terminal(cli, store_id, site):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "stale", "--value", "x")
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete")
    assert res.exit_code == 2 and "-y" in res.stderr
    assert "stale" in keys(cli, store_id) and "index.html" not in keys(cli, store_id)  # nothing changed
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete", "-y")
    assert res.exit_code == 0, res
    assert set(keys(cli, store_id)) == {"index.html", "css/main.css"}


def test_prefix(cli, store_id, site):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "other", "--value", "keep")
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--prefix", "static/", "--delete", "-y")
    assert res.exit_code == 0, res
    assert set(keys(cli, store_id)) == {"other", "static/index.html", "static/css/main.css"}


def test_needs_a_directory(cli, store_id, tmp_path):
    res = cli("kv-store-entry", "sync", "-s", store_id)
    assert res.exit_code == 2 and "--dir" in res.stderr
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", tmp_path / "nope")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_a_file_over_the_value_limit_is_reported_not_uploaded(cli, store_id, site, monkeypatch):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "100")
    (site / "big.bin").write_bytes(b"x" * 101)
    res = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--json")
    assert res.exit_code == 7
    doc = res.json()
    assert doc["uploaded"] == 2 and [e["key"] for e in doc["errors"]] == ["big.bin"]
    assert "big.bin" not in keys(cli, store_id)
