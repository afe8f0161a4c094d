"""What bulk commands say (issue 15): counts in one number format with the noun agreeing, one `sync --json`
shape, exact export warnings, skipped sub-directories, a changed input on --resume, the serve token's help."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path


def ndjson(path: Path, n: int, prefix: str = "k") -> Path:
    value = base64.b64encode(b"v").decode()
    path.write_text("".join(json.dumps({"key": f"{prefix}{i}", "value": value}) + "\n" for i in range(n)))
    return path


def test_import_and_delete_counts_agree_and_use_thousands_separators(cli, store_id, tmp_path):
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", ndjson(tmp_path / "one.ndjson", 1, "one/"))
    assert res.exit_code == 0, res
    assert f"Inserted 1 key into KV Store '{store_id}'" in res.stderr and "written 1," in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", ndjson(tmp_path / "many.ndjson", 3000, "many/"))
    assert res.exit_code == 0, res
    assert f"Inserted 3,000 keys into KV Store '{store_id}'" in res.stderr and "written 3,000," in res.stderr
    assert not re.search(r"\b3000\b", res.stderr)  # one number format in the whole summary
    res = cli("kv-store-entry", "delete", "-s", store_id, "--prefix", "one/", "--dry-run")
    assert res.exit_code == 0 and "would delete 1 key (" in res.stderr, res
    res = cli("kv-store-entry", "delete", "-s", store_id, "--prefix", "one/", "-y")
    assert res.exit_code == 0 and f"Deleted 1 key from KV Store '{store_id}'" in res.stderr, res
    res = cli("kv-store-entry", "delete", "-s", store_id, "--prefix", "many/", "-y")
    assert res.exit_code == 0, res
    assert "Deleted keys: 3,000, failed: 0" in res.stderr and "Deleted 3,000 keys from" in res.stderr


def test_sync_json_has_one_shape_in_a_dry_run_and_a_real_run(cli, store_id, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(b"a")
    (site / "b.txt").write_bytes(b"b")
    cli("kv-store-entry", "create", "-s", store_id, "-k", "stale", "--value", "x")
    dry = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete", "--dry-run", "--json")
    real = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--delete", "-y", "--json")
    assert dry.exit_code == 0 and real.exit_code == 0, (dry, real)
    d, r = dry.json(), real.json()
    assert set(d) == set(r)
    assert {k: type(v) for k, v in d.items()} == {k: type(v) for k, v in r.items()}
    want = {"add": 2, "update": 0, "delete": 1, "unchanged": 0, "errors": 0}
    assert d["counts"] == d["plan"] == r["counts"] == r["plan"] == want
    assert d["add"] == r["add"] == ["a.txt", "b.txt"] and d["delete"] == r["delete"] == ["stale"]
    assert (d["dry_run"], d["uploaded"], d["deleted"]) == (True, 0, 0)
    assert (r["dry_run"], r["uploaded"], r["deleted"], r["unchanged"]) == (False, 2, 1, 0)
    again = cli("kv-store-entry", "sync", "-s", store_id, "--dir", site, "--dry-run", "--json").json()
    assert again["unchanged"] == 2 and again["unchanged_keys"] == ["a.txt", "b.txt"]


def test_export_warning_says_only_metadata_was_dropped(cli, store_id, tmp_path):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "m1", "--value", "x", "--metadata", "meta")
    cli("kv-store-entry", "create", "-s", store_id, "-k", "m2", "--value", "y", "--metadata", "meta")
    out = tmp_path / "d"
    res = cli("kv-store-entry", "export", "-s", store_id, "-f", "dir", "-O", out)
    assert res.exit_code == 0, res
    assert "dir format cannot hold metadata: exported 2 items without their metadata" in res.stderr
    assert "not exported" not in res.stderr
    assert (out / "m1").read_bytes() == b"x" and (out / "m2").read_bytes() == b"y"


def test_dir_without_recursive_says_how_many_sub_directories_it_skipped(cli, store_id, tmp_path):
    d = tmp_path / "tree"
    for sub in ("one", "two"):
        (d / sub).mkdir(parents=True)
        (d / sub / "f.txt").write_bytes(b"nested")
    (d / ".hidden").mkdir()
    (d / "top.txt").write_bytes(b"top")
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d)
    assert res.exit_code == 0, res
    assert "2 sub-directories of" in res.stderr and "were skipped with the files in them" in res.stderr
    assert "--recursive imports them too" in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d, "--recursive")
    assert res.exit_code == 0 and "sub-director" not in res.stderr, res
    (d / "two" / "f.txt").unlink()
    (d / "two").rmdir()
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d)
    assert "1 sub-directory of" in res.stderr and "was skipped with the files in it" in res.stderr


def test_local_serve_help_names_the_token_env_var_once(cli):
    res = cli("local", "serve", "--help", env={"COLUMNS": "300"})
    assert res.exit_code == 0, res
    assert res.stdout.count("KVCLI_SERVE_TOKEN") == 1, res.stdout
