"""`kvcli kv-store copy` and `kv-store diff` across backends: the command line's embedded backend on one side and
`kvcli local serve` as a Fastly profile on the other."""

from __future__ import annotations

import json
import re

import pytest

from tests.served import LocalServe

N = 2_000


@pytest.fixture
def served(tmp_path, cli):
    data = tmp_path / "served"
    data.mkdir()
    serve = LocalServe(data)
    try:
        res = cli("-q", "profile", "create", "served", "--token", "t", "--endpoint", serve.url)
        assert res.exit_code == 0, res
        yield serve
    finally:
        serve.stop()


@pytest.fixture
def filled(engine):
    """Store 'src' on the embedded backend: N keys, a third with metadata, every seventh with a TTL."""
    from kvcli.api.models import BatchEntry

    sid = engine.create_store("src").id
    entries = [BatchEntry(key=f"k/{i:05d}", value=f"v{i}".encode() * (1 + i % 5),
                          metadata=f"m{i}" if i % 3 == 0 else None, ttl=7200 if i % 7 == 0 else None)
               for i in range(N)]
    engine.put_batch(sid, entries)
    return sid


def items(engine, name: str) -> dict:
    sid = engine.find_store(name).id
    out = {}
    for key in (k for page in _pages(engine, sid) for k in page.items):
        item = engine.get_item(sid, key)
        out[key] = (item.value, item.metadata, item.expires_at.timestamp() if item.expires_at else None)
    return out


def _pages(engine, sid):
    from kvcli.api.port import iter_keys

    return iter_keys(engine, sid)


def summary(stderr: str) -> str:
    found = [line for line in stderr.splitlines() if line.startswith(("Copy summary:", "Dry run:"))]
    assert found, stderr
    return found[-1]


def test_copy_to_a_profile_and_back_round_trips_and_a_second_copy_writes_nothing(cli, engine, filled, served):
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--create")
    assert res.exit_code == 0, res
    assert f"written {N:,} (created {N:,}, updated 0)" in summary(res.stderr), res.stderr
    res = cli("--local", "kv-store", "copy", "--from-profile", "served", "--from", "mid", "--to", "back", "--create",
              "--json")
    assert res.exit_code == 0, res
    doc = res.json()
    assert doc["written"] == N and doc["failed"] == 0 and doc["ttl_carried"] == len(range(0, N, 7))
    assert doc["ttl_unknown"] == 0 and doc["created_store"] is True
    a, b = items(engine, "src"), items(engine, "back")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][:2] == b[k][:2], k
        assert (a[k][2] is None) == (b[k][2] is None), k
        if a[k][2] is not None:
            assert abs(a[k][2] - b[k][2]) <= 2, k  # two hops; the HTTP header says whole seconds
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--json")
    assert res.exit_code == 0, res
    assert (res.json()["written"], res.json()["skipped"], res.json()["write_requests"]) == (0, N, 0)
    res = cli("--local", "kv-store", "diff", "--from", "src", "--to", "back")
    assert res.exit_code == 0, res
    assert res.stdout == "" and "Identical: 2,000 keys on both sides" in res.stderr, res


def test_diff_exits_8_and_names_exactly_what_differs(cli, engine, filled, served):
    assert cli("-q", "--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid",
               "--create").exit_code == 0
    put = ["-q", "-o", "served", "kv-store-entry", "create", "--store-name", "mid"]
    assert cli(*put, "-k", "k/00001", "--value", "changed").exit_code == 0
    assert cli(*put, "-k", "k/00002", "--value", "v2" * 3, "--metadata", "new").exit_code == 0
    assert cli(*put, "-k", "zz", "--value", "only in to").exit_code == 0
    assert cli("-q", "-o", "served", "kv-store-entry", "delete", "--store-name", "mid", "-k", "k/00005").exit_code == 0
    args = ["--local", "kv-store", "diff", "--from", "src", "--to-profile", "served", "--to", "mid"]
    res = cli(*args)
    assert res.exit_code == 8, res
    assert res.stdout.splitlines() == ["differs (value)\tk/00001", "differs (metadata)\tk/00002",
                                       "only in from\tk/00005", "only in to\tzz"]
    assert "Differ: only in from 1, only in to 1, differs 2" in res.stderr
    res = cli(*args, "--format", "ndjson")
    assert res.exit_code == 8
    assert [json.loads(line) for line in res.stdout.splitlines()] == [
        {"key": "k/00001", "status": "differs", "what": ["value"]},
        {"key": "k/00002", "status": "differs", "what": ["metadata"]},
        {"key": "k/00005", "status": "only_in_from"}, {"key": "zz", "status": "only_in_to"}]
    res = cli(*args, "--json", "--keys-only")
    assert res.exit_code == 8
    doc = res.json()
    assert doc["only_in_from"] == ["k/00005"] and doc["only_in_to"] == ["zz"] and doc["differs"] == []
    assert doc["counts"]["compared"] == N - 1 and doc["identical"] is False
    res = cli(*args, "--prefix", "k/0001")
    assert res.exit_code == 0, res


def test_dry_run_prints_the_plan_and_writes_nothing(cli, engine, filled, served):
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--create",
              "--dry-run")
    assert res.exit_code == 0, res
    assert summary(res.stderr) == (f"Dry run: create {N:,}, update 0, skip 0, delete 0; the plan needs 3 write "
                                   "requests (2 batch writes, 0 deletions, 1 store creation); nothing was written")
    assert res.stdout.splitlines()[:2] == ["create\tk/00000", "create\tk/00001"]
    assert cli("-o", "served", "kv-store", "describe", "--store-name", "mid").exit_code == 3
    assert cli("-q", "--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid",
               "--create", "--prefix", "k/00").exit_code == 0  # k/00000 … k/00999
    for i in range(3):
        assert cli("-q", "-o", "served", "kv-store-entry", "create", "--store-name", "mid", "-k", f"x/{i}",
                   "--value", "x").exit_code == 0
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--delete",
              "--dry-run", "--json")
    assert res.exit_code == 0, res
    doc = res.json()
    assert doc["plan"] == {"create": 1_000, "update": 0, "unchanged": 1_000, "delete": 3}
    assert doc["keys"]["delete"] == ["x/0", "x/1", "x/2"] and doc["write_requests"] == 1
    assert doc["delete_requests"] == 3  # Fastly has no batch delete: one request per key
    listed = cli("-o", "served", "kv-store-entry", "list", "--store-name", "mid").stdout.split()
    assert len(listed) == 1_003


def test_delete_asks_refuses_without_a_terminal_and_deletes_with_y(cli, engine, filled, served, monkeypatch):
    import kvcli.cli.state as state

    assert cli("-q", "--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid",
               "--create").exit_code == 0
    assert cli("-q", "-o", "served", "kv-store-entry", "create", "--store-name", "mid", "-k", "extra",
               "--value", "x").exit_code == 0
    args = ["--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--delete"]
    res = cli(*args)
    assert res.exit_code == 2 and "pass -y/--auto-yes" in res.stderr, res
    monkeypatch.setattr(state, "stdin_is_tty", lambda: True)
    res = cli(*args, input="n\n")
    assert res.exit_code == 0 and "This will delete 1 key of KV store 'mid'" in res.stderr, res
    assert res.stderr.strip().endswith("Cancelled: nothing was changed.")
    assert "extra" in cli("-o", "served", "kv-store-entry", "list", "--store-name", "mid").stdout.split()
    res = cli(*args, "-y")
    assert res.exit_code == 0, res
    assert "deleted 1," in summary(res.stderr)
    assert "extra" not in cli("-o", "served", "kv-store-entry", "list", "--store-name", "mid").stdout.split()
    assert cli("--local", "kv-store", "diff", "--from", "src", "--to-profile", "served", "--to", "mid").exit_code == 0


def test_failed_keys_exit_7_and_go_to_failed_out(cli, engine, filled, served, tmp_path):
    sid = engine.find_store("src").id
    engine.put_item(sid, "big", b"x" * 300)
    out = tmp_path / "failed.ndjson"
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "mid", "--create",
              "--failed-out", str(out), env={"KVCLI_MAX_VALUE_BYTES": "200"})
    assert res.exit_code == 7, res
    assert "key 'big'" in res.stderr and f"written {N:,}" in summary(res.stderr), res.stderr
    assert re.search(r"^Error: copy incomplete: 1 key failed", res.stderr, re.M), res.stderr
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == ["big"]


def test_missing_stores_and_same_store_are_clear_errors(cli, engine, filled, served):
    res = cli("--local", "kv-store", "copy", "--from", "nope", "--to", "x")
    assert res.exit_code == 3 and "no KV store named 'nope'" in res.stderr and "--from" in res.stderr, res
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "absent")
    assert res.exit_code == 3 and "--create" in res.stderr, res
    res = cli("--local", "kv-store", "copy", "--from", "src", "--to", "src")
    assert res.exit_code == 2 and "same store" in res.stderr, res
    res = cli("--local", "kv-store", "diff", "--from", "src", "--to-profile", "nosuch", "--to", "src")
    assert res.exit_code == 1 and "nosuch" in res.stderr and "Traceback" not in res.stderr, res


def test_diffs_exit_code_is_no_errors_code():
    from kvcli.cli import exits

    codes = {v for k, v in vars(exits).items() if k.isupper() and isinstance(v, int) and k != "DIFFERENT"}
    assert exits.DIFFERENT == 8 and exits.DIFFERENT not in codes and exits.DIFFERENT not in exits.BY_KIND.values()
