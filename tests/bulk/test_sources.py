"""Bulk sources: every format with good and bad input, line numbers in errors, streaming, detection."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from kvcli.api.errors import UsageError
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources import detect_format, open_source
from kvcli.bulk.sources.base import SourceError, go_json
from kvcli.bulk.sources.directory import DirSource
from kvcli.bulk.sources.jsondoc import SetupJsonSource, ViceroyJsonSource, WranglerSource
from kvcli.bulk.sources.jsonstream import JsonStream
from kvcli.bulk.sources.ndjson import NdjsonSource
from kvcli.bulk.sources.toml import TomlSource
from kvcli.bulk.validate import validate


def cli_hint(err) -> str:
    """The hint as the CLI prints it (the library's own names no flag: kvcli/cli/hints.py words it)."""
    from kvcli.cli.hints import worded

    return worded(err)[1] or ""


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def records(source) -> list:
    return list(validate(source.records()))


def goods(recs) -> dict[str, Entry]:
    return {r.key: r for r in recs if isinstance(r, Entry)}


def bads(recs) -> list[Bad]:
    return [r for r in recs if isinstance(r, Bad)]


# ------------------------------------------------------------------------------------------------------ NDJSON
def test_ndjson_all_fields_blank_lines_and_indentation(tmp_path: Path):
    p = tmp_path / "in.ndjson"
    p.write_text(
        '{"key":"hello","value":"d29ybGRzCg=="}\n'
        "\n"
        '    {"key":"fastly","value":"a3ZzdG9yZQo=","time_to_live_sec":60,"metadata":"m","background_fetch":true}\n'
        "   \n"
        '{"key":"empty","value":""}'  # no trailing newline
    )
    recs = records(NdjsonSource(str(p)))
    assert bads(recs) == []
    g = goods(recs)
    assert g["hello"].value == b"worlds\n" and g["hello"].line == 1
    assert g["fastly"].line == 3 and g["fastly"].ttl == 60 and g["fastly"].metadata == "m"
    assert g["fastly"].background_fetch is True
    assert g["empty"].value == b"" and g["empty"].line == 5
    assert [r.ordinal for r in recs] == [0, 1, 2]


@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        ('{"key":"k","value":"!!!"}', "invalid_value", "base64"),
        ('{"key":"k"}', "missing_value", "missing \"value\""),
        ('{"value":"eA=="}', "missing_key", "missing \"key\""),
        ('{"key":5,"value":"eA=="}', "invalid_key", "must be a string"),
        ('{"key":"k","value":"eA==","metadata":{"a":1}}', "invalid_metadata", "metadata"),
        ('{"key":"k","value":"eA==","time_to_live_sec":"60"}', "invalid_ttl", "whole number"),
        ('{"key":"k","value":"eA==","time_to_live_sec":0}', "invalid_ttl", "positive"),
        ('{"key":"k","value":"eA==","background_fetch":"yes"}', "invalid_background_fetch", "true or false"),
        ('["k","v"]', "invalid_line", "not a JSON object"),
        ("not json at all", "invalid_json", "invalid JSON"),
        ('{"key":"a?b","value":"eA=="}', "invalid_key", "forbidden character"),
        ('{"key":"","value":"eA=="}', "invalid_key", "empty"),
        ('{"key":"k","value":"eA==","metadata":"' + "m" * 2001 + '"}', "invalid_metadata", "2000"),
    ],
)
def test_ndjson_bad_lines_are_reported_with_their_line_number(tmp_path: Path, line, code, text):
    p = tmp_path / "in.ndjson"
    p.write_text('{"key":"before","value":"eA=="}\n\n' + line + '\n{"key":"after","value":"eA=="}\n')
    recs = records(NdjsonSource(str(p)))
    assert set(goods(recs)) == {"before", "after"}  # a bad line never stops good ones
    [bad] = bads(recs)
    assert bad.line == 3 and bad.code == code and text in bad.reason
    assert bad.where == f"{p}:3"


def test_ndjson_value_too_large_is_bad(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "10")
    p = tmp_path / "in.ndjson"
    big, ok = {"key": "big", "value": b64(b"x" * 11)}, {"key": "ok", "value": b64("x" * 10)}
    p.write_text(json.dumps(big) + "\n" + json.dumps(ok))
    recs = records(NdjsonSource(str(p)))
    [bad] = bads(recs)
    assert bad.code == "too_large" and bad.key == "big" and bad.line == 1
    assert set(goods(recs)) == {"ok"}


def test_ndjson_pretty_printed_objects_are_joined(tmp_path: Path):
    p = tmp_path / "in.json"
    p.write_text('{\n  "key": "a",\n  "value": "eA=="\n}\n{\n  "key": "b",\n  "value": "eQ=="\n}\n')
    recs = records(NdjsonSource(str(p)))
    assert [(r.key, r.line, r.value) for r in recs] == [("a", 1, b"x"), ("b", 5, b"y")]


def test_ndjson_broken_line_does_not_swallow_the_next(tmp_path: Path):
    p = tmp_path / "in.ndjson"
    p.write_text('{"key":"x"\n{"key":"b","value":"eQ=="}\n{"key":"c","value":"eQ=="}\n')
    recs = records(NdjsonSource(str(p)))
    assert set(goods(recs)) == {"b", "c"}
    [bad] = bads(recs)
    assert bad.line == 1 and bad.raw == '{"key":"x"'


def test_ndjson_binary_values_round_trip(tmp_path: Path):
    raw = bytes(range(256)) * 3
    p = tmp_path / "in.ndjson"
    p.write_text(json.dumps({"key": "bin", "value": b64(raw)}) + "\n")
    assert goods(records(NdjsonSource(str(p))))["bin"].value == raw


def test_ndjson_from_a_stream_and_resume_offsets(tmp_path: Path):
    text = b"".join(json.dumps({"key": f"k{i}", "value": "eA=="}).encode() + b"\n" for i in range(5))
    src = NdjsonSource(stream=io.BytesIO(text))
    recs = list(src.records())
    assert [r.ordinal for r in recs] == [0, 1, 2, 3, 4]
    assert recs[-1].end_offset == len(text) and src.position() == len(text)
    assert src.identity() is None  # stdin cannot be resumed
    # a seekable file can start at a recorded offset
    p = tmp_path / "in.ndjson"
    p.write_bytes(text)
    from kvcli.bulk.sources.base import ResumePoint

    after = list(NdjsonSource(str(p)).records(start=ResumePoint(3, recs[2].end_offset, recs[2].next_line)))
    assert [(r.key, r.ordinal, r.line) for r in after] == [("k3", 3, 4), ("k4", 4, 5)]


# ---------------------------------------------------------------------------------------------------- wrangler
def test_wrangler_text_base64_metadata_and_expiry(tmp_path: Path):
    p = tmp_path / "bulk.json"
    p.write_text(json.dumps([
        {"key": "text", "value": "héllo"},
        {"key": "bin", "value": b64(b"\x00\xff"), "base64": True},
        {"key": "meta", "value": "v", "metadata": {"owner": "me", "n": 1}},
        {"key": "ttl", "value": "v", "expiration_ttl": 120},
        {"key": "exp", "value": "v", "expiration": 1_000_100},
        {"key": "unknown-prop", "value": "v", "whatever": 1},
    ], indent=2))
    src = WranglerSource(str(p), clock=lambda: 1_000_000)
    g = goods(records(src))
    assert g["text"].value == "héllo".encode()
    assert g["bin"].value == b"\x00\xff"
    assert json.loads(g["meta"].metadata) == {"owner": "me", "n": 1} and " " not in g["meta"].metadata
    assert g["ttl"].ttl == 120 and g["exp"].ttl == 100
    assert g["unknown-prop"].value == b"v"
    assert g["meta"].line == 11  # the line its "{" is on


def test_wrangler_bad_elements_have_line_numbers(tmp_path: Path):
    p = tmp_path / "bulk.json"
    p.write_text(
        '[\n'
        '  {"key": "ok", "value": "v"},\n'
        '  {"key": "nov"},\n'
        '  {"key": "b64", "value": "!!", "base64": true},\n'
        '  {"key": "past", "value": "v", "expiration": 5},\n'
        '  "just a string",\n'
        '  {"key": "ok2", "value": "v"}\n'
        ']\n'
    )
    recs = records(WranglerSource(str(p), clock=lambda: 1000))
    assert set(goods(recs)) == {"ok", "ok2"}
    assert [(b.line, b.code) for b in bads(recs)] == [
        (3, "invalid_value"), (4, "invalid_value"), (5, "expired"), (6, "invalid_line")
    ]


def test_wrangler_syntax_error_stops_with_the_line(tmp_path: Path):
    p = tmp_path / "bulk.json"
    p.write_text('[\n{"key": "a", "value": "v"},\n{"key": "b" "value": "v"}\n]')
    src = WranglerSource(str(p))
    it = src.records()
    assert next(it).key == "a"
    with pytest.raises(SourceError, match=r"bulk.json:3: invalid JSON"):
        next(it)


def test_wrangler_streams_element_by_element(tmp_path: Path):
    """Elements larger than the read size and many small ones parse the same as json.load."""
    big = "x" * (3 * 1024 * 1024)
    items = [{"key": f"k{i}", "value": str(i)} for i in range(3000)] + [{"key": "big", "value": big}]
    p = tmp_path / "bulk.json"
    p.write_text(json.dumps(items))
    got = [(r.key, r.value) for r in WranglerSource(str(p)).records()]
    assert got == [(i["key"], i["value"].encode()) for i in items]


def test_json_stream_buffer_stays_small(tmp_path: Path):
    """Memory: after each element the consumed text is dropped; the buffer never holds the whole document."""
    items = [{"key": f"k{i}", "value": "v" * 100} for i in range(50_000)]  # ~6 MB
    p = tmp_path / "bulk.json"
    p.write_text(json.dumps(items))
    with open(p, "rb") as fh:
        stream = JsonStream(fh, str(p))
        biggest = 0
        for n, _ in enumerate(stream.array_items()):
            biggest = max(biggest, len(stream.buf))
        assert n == 49_999
    assert biggest < 2.5 * 1024 * 1024


# ------------------------------------------------------------------------------------------ viceroy / setup JSON
def test_viceroy_json_object(tmp_path: Path):
    (tmp_path / "data.txt").write_bytes(b"\x01file bytes")
    p = tmp_path / "store.json"
    p.write_text(json.dumps({
        "first": "This is some data",
        "second": {"file": str(tmp_path / "data.txt")},
        "third": {"data": "third", "metadata": "some metadata"},
        "empty": {},
        "both": {"data": "x", "file": "y"},
        "number": 5,
        "missing-file": {"file": str(tmp_path / "nope.txt")},
    }, indent=1))
    recs = records(ViceroyJsonSource(str(p)))
    g = goods(recs)
    assert g["first"].value == b"This is some data"
    assert g["second"].value == b"\x01file bytes"
    assert g["third"].metadata == "some metadata"
    assert {b.key: b.code for b in bads(recs)} == {
        "empty": "missing_value", "both": "invalid_value", "number": "invalid_value", "missing-file": "unreadable"
    }
    assert {b.key: b.line for b in bads(recs)} == {"empty": 10, "both": 11, "number": 15, "missing-file": 16}


def test_setup_json_non_strings_become_go_json_text(tmp_path: Path):
    p = tmp_path / "kv.json"
    p.write_text(
        '{"s": "text", "obj": {"data": "x", "metadata": "m"}, "n": 1.0, "html": "<&>", "list": [1, {"b": 2, "a": 1}]}'
    )
    g = goods(records(SetupJsonSource(str(p))))
    assert g["s"].value == b"text"
    # the [setup] loader stores the JSON text of anything that is not a string (unlike Viceroy)
    assert g["obj"].value == b'{"data":"x","metadata":"m"}' and g["obj"].metadata is None
    assert g["n"].value == b"1"
    assert g["html"].value == b"<&>"  # a string stays as it is
    assert g["list"].value == b'[1,{"a":1,"b":2}]'
    assert go_json({"t": "<a>"}) == '{"t":"\\u003ca\\u003e"}'


# ------------------------------------------------------------------------------------------------ fastly.toml
TOML = """\
[local_server]
kv_stores.empty_store = []

[[local_server.kv_stores.store_one]]
key = "first"
data = "This is some data"

[[local_server.kv_stores.store_one]]
key = "second"
file = "data/value.txt"

[[local_server.kv_stores.store_one]]
key = "third"
data = "third"
metadata = "some metadata"

[[local_server.kv_stores.store_one]]
key = "broken"

[local_server.kv_stores.from_json]
file = "data/store.json"
format = "json"

[setup.kv_stores.my_store]
description = "d"
[setup.kv_stores.my_store.items.some_key]
value = "literal"
[setup.kv_stores.my_store.items.file_key]
file = "data/value.txt"
[setup.kv_stores.my_store.items.nothing]
description = "no value"

[setup.kv_stores.other_store]
file = "data/setup.json"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "value.txt").write_bytes(b"file value")
    (tmp_path / "data" / "store.json").write_text(json.dumps({"j1": "one", "j2": {"data": "two", "metadata": "m"}}))
    (tmp_path / "data" / "setup.json").write_text(json.dumps({"s1": "one", "s2": {"data": "x"}}))
    (tmp_path / "fastly.toml").write_text(TOML)
    return tmp_path / "fastly.toml"


def test_toml_local_server_inline_store(project: Path):
    src = TomlSource(str(project), store="store_one")
    assert src.format == "fastly-toml"
    recs = records(src)
    g = goods(recs)
    assert g["first"].value == b"This is some data" and g["first"].line == 4
    assert g["second"].value == b"file value"  # relative to the fastly.toml's directory
    assert g["third"].metadata == "some metadata" and g["third"].line == 12
    [bad] = bads(recs)
    assert bad.key == "broken" and bad.code == "missing_value" and bad.line == 17


def test_toml_local_server_json_file_store(project: Path):
    g = goods(records(TomlSource(str(project), store="from_json")))
    assert g["j1"].value == b"one" and g["j2"].metadata == "m"


def test_toml_setup_items_and_file(project: Path):
    recs = records(TomlSource(str(project), store="my_store"))
    g = goods(recs)
    assert g["some_key"].value == b"literal" and g["file_key"].value == b"file value"
    [bad] = bads(recs)
    assert bad.key == "nothing" and bad.line == 30
    g2 = goods(records(TomlSource(str(project), store="other_store")))
    assert g2["s2"].value == b'{"data":"x"}'  # setup semantics for the JSON file


def test_toml_store_selection_errors(project: Path, tmp_path: Path):
    with pytest.raises(SourceError, match="several KV stores") as exc:
        TomlSource(str(project))
    assert "--toml-store" in cli_hint(exc.value) and "--" not in exc.value.hint
    with pytest.raises(SourceError, match="no store named 'nope'"):
        TomlSource(str(project), store="nope")
    single = tmp_path / "single.toml"
    single.write_text('[[local_server.kv_stores.only]]\nkey = "a"\ndata = "b"\n')
    assert goods(records(TomlSource(str(single))))["a"].value == b"b"  # exactly one store: no flag needed
    bad = tmp_path / "bad.toml"
    bad.write_text("[local_server\n")
    with pytest.raises(SourceError, match="not valid TOML"):
        TomlSource(str(bad))
    half = tmp_path / "half.toml"
    half.write_text('[local_server.kv_stores.x]\nfile = "a.json"\n')
    with pytest.raises(SourceError, match="only one of"):
        TomlSource(str(half))


def test_toml_same_name_in_both_sections_needs_format(tmp_path: Path):
    p = tmp_path / "fastly.toml"
    p.write_text(
        '[[local_server.kv_stores.s]]\nkey = "a"\ndata = "local"\n[setup.kv_stores.s.items.a]\nvalue = "setup"\n'
    )
    with pytest.raises(SourceError) as exc:
        TomlSource(str(p), store="s")
    assert "--format" in cli_hint(exc.value) and "--" not in exc.value.hint
    assert goods(records(TomlSource(str(p), "setup-toml", "s")))["a"].value == b"setup"


# -------------------------------------------------------------------------------------------------- directory
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden-dir").mkdir()
    (root / "a.txt").write_bytes(b"A")
    (root / ".env").write_bytes(b"secret")
    (root / "sub" / "b.bin").write_bytes(b"\x00\xffB")
    (root / "sub" / "deeper" / "c.txt").write_bytes(b"C")
    (root / ".hidden-dir" / "d.txt").write_bytes(b"D")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"OUTSIDE")
    os.symlink(outside, root / "link-out")
    os.symlink(root / "a.txt", root / "link-in")
    os.symlink(root / "sub", root / "link-dir")
    os.symlink(tmp_path, root / "sub" / "escape")
    return root


def test_dir_top_level_like_the_official_cli(tree: Path):
    src = DirSource(str(tree))
    g = goods(records(src))
    assert set(g) == {"a.txt", "link-in"}
    assert g["a.txt"].value == b"A" and g["link-in"].value == b"A"
    assert any("link-out" in n and "outside" in n for n in src.notes)


def test_dir_recursive_hidden_and_symlinks(tree: Path):
    src = DirSource(str(tree), recursive=True)
    g = goods(records(src))
    assert set(g) == {"a.txt", "link-in", "sub/b.bin", "sub/deeper/c.txt"}
    assert g["sub/b.bin"].value == b"\x00\xffB"
    # the link to outside the tree, the directory links and the escaping link are never followed
    assert not any(v.value == b"OUTSIDE" for v in g.values())
    hidden = DirSource(str(tree), recursive=True, allow_hidden=True)
    assert set(goods(records(hidden))) >= {".env", ".hidden-dir/d.txt"}


def test_dir_reads_values_lazily(tree: Path):
    recs = list(DirSource(str(tree), recursive=True).records())
    assert all(r.value is None and r.path for r in recs)  # nothing read until validation loads it
    (tree / "a.txt").write_bytes(b"changed")
    g = goods(validate(recs))
    assert g["a.txt"].value == b"changed"


def test_dir_bad_file_names_are_bad_entries(tmp_path: Path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "ok").write_bytes(b"1")
    (root / "what?").write_bytes(b"2")
    recs = records(DirSource(str(root)))
    [bad] = bads(recs)
    assert bad.key == "what?" and bad.code == "invalid_key" and bad.file.endswith("what?")


def test_dir_missing_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        DirSource(str(tmp_path / "nope"))


# -------------------------------------------------------------------------------------------------- detection
@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("x.ndjson", b"anything", "ndjson"),
        ("x.jsonl", b"", "ndjson"),
        ("fastly.toml", b"", "toml"),
        ("x.txt", b'[local_server]\nkv_stores.a = []\n', "toml"),
        ("x.json", b'[{"key": "a", "value": "b"}]', "wrangler"),
        ("x.json", b'  \n[\n', "wrangler"),
        ("x.json", b'{"key":"a","value":"eA=="}\n{"key":"b","value":"eA=="}\n', "ndjson"),
        ("x.json", b'{\n  "key": "a",\n  "value": "eA=="\n}\n', "ndjson"),
        ("x.json", b'{"first": "data", "second": {"file": "x"}}', "viceroy"),
        ("x.json", b'{\n  "first": "data"\n}', "viceroy"),
        (None, b"", "ndjson"),
        (None, b'{"key":"a","value":"eA=="', "ndjson"),
    ],
)
def test_detection(name, head, fmt):
    assert detect_format(head, name)[0] == fmt


def test_detection_failure_asks_for_format():
    with pytest.raises(UsageError) as exc:
        detect_format(b"key=value\n", "x.txt")
    assert "--format" in cli_hint(exc.value) and "--" not in exc.value.hint


def test_open_source_says_what_it_detected(tmp_path: Path):
    p = tmp_path / "data.json"
    p.write_text('[{"key": "a", "value": "b"}]')
    src, note = open_source(file=str(p))
    assert isinstance(src, WranglerSource) and "detected format: wrangler" in note
    src, note = open_source(file=str(p), fmt="wrangler")
    assert note is None
    with pytest.raises(UsageError, match="unknown format"):  # the CLI says --format (kvcli/cli/hints.py)
        open_source(file=str(p), fmt="yaml")
    with pytest.raises(UsageError, match="TOML store only applies"):
        open_source(file=str(p), fmt="ndjson", toml_store="x")


def test_open_source_detects_on_stdin_without_losing_bytes():
    data = b"".join(json.dumps({"key": f"k{i}", "value": "eA=="}).encode() + b"\n" for i in range(20_000))
    src, note = open_source(stream=io.BytesIO(data))
    assert "ndjson" in note
    assert len(list(src.records())) == 20_000


def test_missing_file(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(file=str(tmp_path / "missing.ndjson"))


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_ndjson_block_reading_matches_line_reading(tmp_path: Path, monkeypatch, block):
    import kvcli.bulk.sources.ndjson as nd

    monkeypatch.setattr(nd, "_BLOCK", block)
    lines = [json.dumps({"key": f"k{i}", "value": b64("v" * (i * 7 % 50))}) for i in range(60)]
    lines[5] = ""
    lines[9] = "   "
    p = tmp_path / "in.ndjson"
    p.write_bytes(("\r\n".join(lines)).encode())  # CRLF, no final newline
    recs = list(NdjsonSource(str(p)).records())
    assert [r.key for r in recs] == [f"k{i}" for i in range(60) if i not in (5, 9)]
    assert [r.line for r in recs] == [i + 1 for i in range(60) if i not in (5, 9)]
    assert recs[-1].end_offset == p.stat().st_size


def test_ndjson_oversized_line_is_skipped_without_holding_it(tmp_path: Path, monkeypatch):
    import kvcli.bulk.sources.ndjson as nd

    monkeypatch.setattr(nd, "_BLOCK", 16)
    monkeypatch.setattr(nd, "MAX_RECORD_BYTES", 100)
    p = tmp_path / "in.ndjson"
    big = json.dumps({"key": "big", "value": b64("x" * 500)})
    p.write_text("\n".join([json.dumps({"key": "a", "value": "eA=="}), big, json.dumps({"key": "b", "value": "eA=="}),
                            big]))
    recs = list(NdjsonSource(str(p)).records())
    assert [(type(r).__name__, r.line) for r in recs] == [("Entry", 1), ("Bad", 2), ("Entry", 3), ("Bad", 4)]
    assert recs[1].code == "too_large" and recs[3].end_offset == p.stat().st_size
