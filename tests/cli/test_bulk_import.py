"""`kv-store-entry create --file/--stdin/--dir`: formats, errors with line numbers, JSON summary, exit codes,
--failed-out re-feed, --max-errors, --dry-run and --resume after an interruption."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from kvcli.api.local import LocalAdapter


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def ndjson(path: Path, items: list[dict | str]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def contents(cli, store_id) -> dict[str, bytes]:
    res = cli("kv-store-entry", "export", "-s", store_id)
    assert res.exit_code == 0, res
    return {x["key"]: base64.b64decode(x["value"]) for x in map(json.loads, res.stdout.splitlines())}


def test_ndjson_file_import(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", [{"key": f"k{i}", "value": b64(f"v{i}")} for i in range(20)])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p)
    assert res.exit_code == 0, res
    assert "Inserted 20 keys" in res.stderr and "written 20" in res.stderr
    assert res.stdout == ""
    assert contents(cli, store_id)["k7"] == b"v7"


def test_json_summary_has_the_official_shape_plus_counts(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", [{"key": "a", "value": b64("x")}])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--json")
    assert res.exit_code == 0, res
    doc = res.json()
    assert doc["success"] is True and doc["errors"] == []
    assert (doc["written"], doc["failed"], doc["skipped"]) == (1, 0, 0)


def test_bad_lines_exit_7_with_file_and_line(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", [
        {"key": "good1", "value": b64("1")},
        {"key": "bad?key", "value": b64("2")},
        "{not json",
        {"key": "good2", "value": b64("3")},
        {"key": "nob64", "value": "***"},
    ])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p)
    assert res.exit_code == 7, res
    assert f"{p}:2: key 'bad?key': key contains a forbidden character" in res.stderr
    assert f"{p}:3:" in res.stderr and f"{p}:5:" in res.stderr
    assert "Traceback" not in res.stderr
    assert set(contents(cli, store_id)) == {"good1", "good2"}  # bad entries never stop good ones
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--json")
    assert res.exit_code == 7
    doc = res.json()
    assert doc["success"] is False and (doc["written"], doc["failed"], doc["invalid"]) == (2, 3, 3)
    assert [(e["line"], e["code"]) for e in doc["errors"]] == [(2, "invalid_key"), (3, "invalid_json"),
                                                               (5, "invalid_value")]
    assert doc["errors"][0]["title"] == f"error at {p}:2" and doc["errors"][0]["detail"]


def test_failed_out_can_be_fixed_and_fed_back(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", [
        {"key": "ok", "value": b64("1")},
        {"key": "too-long-meta", "value": b64("2"), "metadata": "m" * 2001},
    ])
    failed = tmp_path / "failed.ndjson"
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--failed-out", failed)
    assert res.exit_code == 7
    [line] = failed.read_text().splitlines()
    obj = json.loads(line)
    assert obj["key"] == "too-long-meta" and base64.b64decode(obj["value"]) == b"2"
    obj["metadata"] = "short"
    failed.write_text(json.dumps(obj) + "\n")
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", failed)
    assert res.exit_code == 0, res
    assert set(contents(cli, store_id)) == {"ok", "too-long-meta"}


def test_max_errors_stops_early(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", ["garbage"] * 5 + [{"key": "late", "value": b64("x")}])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--max-errors", "2", "--json")
    assert res.exit_code == 7
    doc = res.json()
    assert doc["failed"] == 3 and doc["complete"] is False and "--max-errors" in doc["stopped"]


def test_dry_run_writes_nothing(cli, store_id, tmp_path):
    p = ndjson(tmp_path / "in.ndjson", [{"key": "a", "value": b64("x")}, "bad"])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--dry-run", "--json")
    assert res.exit_code == 7
    doc = res.json()
    assert doc["dry_run"] is True and doc["valid"] == 1 and doc["written"] == 0
    assert contents(cli, store_id) == {}


def test_stdin_with_detection_message(cli, store_id):
    data = "".join(json.dumps({"key": f"s{i}", "value": b64("x")}) + "\n" for i in range(3))
    res = cli("kv-store-entry", "create", "-s", store_id, "--stdin", input=data)
    assert res.exit_code == 0, res
    assert "detected format: ndjson" in res.stderr
    assert set(contents(cli, store_id)) == {"s0", "s1", "s2"}


def test_empty_stdin_is_a_successful_empty_import(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "--stdin", input="")
    assert res.exit_code == 0, res
    assert "Inserted 0 keys" in res.stderr


def test_format_override_and_unknown_format(cli, store_id, tmp_path):
    p = tmp_path / "data.txt"
    p.write_text(json.dumps([{"key": "w", "value": "text"}]))
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--format", "wrangler")
    assert res.exit_code == 0, res
    assert "detected" not in res.stderr
    assert contents(cli, store_id) == {"w": b"text"}
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--format", "csv")
    assert res.exit_code == 2 and "unknown --format" in res.stderr


def test_viceroy_and_toml_sources(cli, store_id, tmp_path):
    (tmp_path / "store.json").write_text(json.dumps({"j": {"data": "json", "metadata": "m"}}))
    (tmp_path / "fastly.toml").write_text(
        '[[local_server.kv_stores.one]]\nkey = "t"\ndata = "toml"\n'
        '[local_server.kv_stores.two]\nfile = "store.json"\nformat = "json"\n'
    )
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "fastly.toml")
    assert res.exit_code == 2 and "--toml-store" in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "fastly.toml", "--toml-store", "two")
    assert res.exit_code == 0, res
    assert "local_server.kv_stores.two" in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "fastly.toml", "--toml-store", "one")
    assert res.exit_code == 0, res
    assert contents(cli, store_id) == {"j": b"json", "t": b"toml"}
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "j", "--json")
    assert res.json()["metadata"] == "m"


def test_dir_import_top_level_recursive_hidden_and_symlinks(cli, store_id, tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"A")
    (d / ".hidden").write_bytes(b"H")
    (d / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret").write_bytes(b"SECRET")
    os.symlink(tmp_path / "secret", d / "escape")
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d)
    assert res.exit_code == 0, res
    assert "escape: symlink leads outside the directory" in res.stderr
    assert contents(cli, store_id) == {"a.txt": b"A"}
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d, "--recursive", "--dir-allow-hidden", "--json")
    assert res.exit_code == 0, res
    assert res.json()["written"] == 3
    assert contents(cli, store_id) == {"a.txt": b"A", ".hidden": b"H", "sub/b.bin": b"\x00\x01"}


def test_dir_import_is_batched_not_one_put_per_file(cli, store_id, tmp_path, monkeypatch):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(120):
        (d / f"f{i:03d}").write_bytes(b"x")
    calls = []
    original = LocalAdapter.put_batch

    def counting(self, sid, entries):
        entries = list(entries)
        calls.append(len(entries))
        return original(self, sid, entries)

    monkeypatch.setattr(LocalAdapter, "put_batch", counting)
    monkeypatch.setattr(LocalAdapter, "put_item", lambda *a, **k: pytest.fail("one PUT per file"))
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d, "--batch-size", "50")
    assert res.exit_code == 0, res
    assert calls == [50, 50, 20]


def test_metadata_and_ttl_flags_are_defaults_for_bulk_entries(cli, store_id, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "f").write_bytes(b"x")
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", d, "--metadata", "from-flag", "--ttl", "600")
    assert res.exit_code == 0, res
    info = cli("kv-store-entry", "describe", "-s", store_id, "-k", "f", "--json").json()
    assert info["metadata"] == "from-flag" and info["expires_at"] is not None


@pytest.mark.parametrize(
    "args",
    [
        ["--add"],
        ["--key", "k"],
        ["--if-generation-match", "3"],
    ],
)
def test_single_key_flags_are_refused_in_bulk_mode(cli, store_id, tmp_path, args):
    p = ndjson(tmp_path / "in.ndjson", [])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, *args)
    assert res.exit_code == 2 and "cannot be used with a bulk import" in res.stderr


def test_bulk_flags_need_a_bulk_source(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", "b", "--resume")
    assert res.exit_code == 2 and "--resume only applies to a bulk import" in res.stderr


def test_resume_refuses_stdin(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "--stdin", "--resume", input="")
    assert res.exit_code == 2 and "stdin" in res.stderr


def test_missing_file_is_one_line(cli, store_id, tmp_path):
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "missing.ndjson")
    assert res.exit_code == 2
    assert "no such file or directory" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_interrupted_import_resumes_without_resending(cli, store_id, tmp_path, monkeypatch):
    p = ndjson(tmp_path / "in.ndjson", [{"key": f"k{i:03d}", "value": b64(f"v{i}")} for i in range(100)])
    original = LocalAdapter.put_batch
    sent: list[str] = []
    calls = [0]

    def interrupt_on_third(self, sid, entries):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        entries = list(entries)
        sent.extend(e.key for e in entries)
        return original(self, sid, entries)

    monkeypatch.setattr(LocalAdapter, "put_batch", interrupt_on_third)
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--batch-size", "20")
    assert res.exit_code == 130, res
    assert "--resume" in res.stderr
    assert len(sent) == 40
    first = list(sent)
    sent.clear()
    calls[0] = -100  # no more interruptions
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--batch-size", "20", "--resume", "--json")
    assert res.exit_code == 0, res
    doc = res.json()
    assert (doc["written"], doc["skipped"], doc["earlier_written"]) == (60, 40, 40)
    assert not set(first) & set(sent) and len(sent) == 60
    got = contents(cli, store_id)
    assert len(got) == 100 and got["k099"] == b"v99"
    # finished: a further --resume has nothing left to do; a run without --resume imports everything again
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--resume", "--json")
    assert res.exit_code == 0 and "nothing is left to resume" in res.stderr
    assert (res.json()["written"], res.json()["skipped"]) == (0, 100)
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--json")
    assert res.exit_code == 0 and res.json()["written"] == 100 and "unfinished" not in res.stderr


def test_a_changed_file_is_not_resumed_from_the_old_journal(cli, store_id, tmp_path, monkeypatch):
    p = ndjson(tmp_path / "in.ndjson", [{"key": f"k{i}", "value": b64("x")} for i in range(30)])
    original = LocalAdapter.put_batch
    calls = [0]

    def interrupt_on_second(self, sid, entries):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return original(self, sid, entries)

    monkeypatch.setattr(LocalAdapter, "put_batch", interrupt_on_second)
    assert cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--batch-size", "10").exit_code == 130
    monkeypatch.setattr(LocalAdapter, "put_batch", original)
    ndjson(p, [{"key": f"new{i}", "value": b64("y")} for i in range(31)])  # different size and mtime
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--resume", "--json")
    assert res.exit_code == 0, res
    assert res.json()["written"] == 31 and res.json()["skipped"] == 0
    assert "input changed since the interrupted import" in res.stderr and "journal is not used" in res.stderr
    # with no earlier journal at all, --resume says there was nothing to resume (not that anything changed)
    other = ndjson(tmp_path / "other.ndjson", [{"key": "o", "value": b64("z")}])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", other, "--resume")
    assert res.exit_code == 0 and "Nothing to resume for this input" in res.stderr and "input changed" not in res.stderr


def test_progress_is_drawn_when_enabled_and_never_on_stdout(cli, store_id, tmp_path, monkeypatch):
    import kvcli.cli.entry_bulk as eb

    drawn = []
    real = eb.Progress

    class Spy(real):
        def update(self, completed, entries):
            drawn.append((completed, entries))
            super().update(completed, entries)

    monkeypatch.setattr(eb, "_progress_enabled", lambda state: True)
    monkeypatch.setattr(eb, "Progress", Spy)
    p = ndjson(tmp_path / "in.ndjson", [{"key": f"k{i}", "value": b64("x")} for i in range(30)])
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--batch-size", "10", "--json")
    assert res.exit_code == 0, res
    assert res.json()["written"] == 30  # stdout is only the JSON
    assert drawn and drawn[-1] == (p.stat().st_size, "30 entries")


def test_sigterm_becomes_an_interrupt_while_importing():
    import signal

    from kvcli.cli.entry_bulk import _sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with _sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            import time

            time.sleep(5)  # interrupted at once by the handler
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_corrupt_journal_blocks_resume_but_not_a_fresh_import(cli, store_id, tmp_path, isolated):
    p = ndjson(tmp_path / "in.ndjson", [{"key": "a", "value": b64("x")}])
    assert cli("kv-store-entry", "create", "-s", store_id, "--file", p).exit_code == 0
    [journal] = (isolated["data"] / "imports").glob("*.journal")
    journal.write_text("garbage\n")
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p, "--resume")
    assert res.exit_code == 2 and "journal" in res.stderr and "without --resume" in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", p)
    assert res.exit_code == 0, res


@pytest.mark.parametrize("fmt", [None, "ndjson"])
def test_a_stdin_import_writes_what_has_arrived_without_waiting_for_the_end(store_id, isolated, fmt):
    """A slow producer piped into --stdin: its lines are stored as they arrive, not when a 1 MiB block is full or
    the pipe closes (the import used to wait for whole blocks)."""
    import subprocess
    import sys
    import time

    from tests.conftest import subprocess_env

    lines = "".join(json.dumps({"key": f"k{i:04d}", "value": b64("v")}) + "\n" for i in range(2000)).encode()
    assert 64 * 1024 < len(lines) < 1 << 20  # more than format detection's head, less than a read block
    args = [sys.executable, "-m", "kvcli", "kv-store-entry", "create", "-s", store_id, "--stdin", "--batch-size", "10"]
    proc = subprocess.Popen(args + (["--format", fmt] if fmt else []), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env())
    try:
        proc.stdin.write(lines)
        proc.stdin.flush()
        guard = time.monotonic() + 120  # against a hang only: the entries must arrive while stdin stays open
        while True:
            api = LocalAdapter.open(isolated["data"])
            try:
                if len(api.list_keys(store_id, limit=1000).items) >= 1000:
                    break
            finally:
                api.close()
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < guard, "nothing was stored while the pipe stayed open"
            time.sleep(0.02)
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
