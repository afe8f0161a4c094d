"""`kv-store-entry create` (alias insert) for one key, through the CLI on the embedded backend."""

from __future__ import annotations

import json
import sys

import pytest

ALL_BYTES = bytes(range(256))


def one_error_line(res) -> str:
    """The only stderr line besides the backend announcement: one 'Error: …' line, no traceback."""
    lines = [line for line in res.stderr.splitlines() if not line.startswith("Using ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res
    return lines[0]


def get_bytes(cli, store_id: str, key: str) -> bytes:
    res = cli("kv-store-entry", "get", "-s", store_id, f"--key={key}")
    assert res.exit_code == 0, res
    return res.stdout_bytes


def describe(cli, store_id: str, key: str) -> dict:
    res = cli("kv-store-entry", "describe", "-s", store_id, f"--key={key}", "--json")
    assert res.exit_code == 0, res
    return res.json()


def test_create_with_value_prints_the_official_success_line(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k1", "--value", "hello")
    assert res.exit_code == 0, res
    assert res.stdout == ""
    assert f"SUCCESS: Created key 'k1' in KV Store '{store_id}'" in res.stderr
    assert get_bytes(cli, store_id, "k1") == b"hello"


def test_create_json_is_the_official_shape(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k1", "--value", "v", "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"id": store_id, "key": "k1"}
    assert res.stdout == json.dumps({"id": store_id, "key": "k1"}, indent=2) + "\n"


def test_store_by_name_and_insert_alias(cli, store_id):
    res = cli("kv-store-entry", "insert", "--store-name", "test-store", "-k", "k", "--value", "x")
    assert res.exit_code == 0, res
    assert get_bytes(cli, store_id, "k") == b"x"
    listed = [line.strip("│ ").split(" ")[0] for line in cli("kv-store-entry", "--help").stdout.splitlines()]
    assert "create" in listed and "insert" not in listed  # a hidden alias


def test_empty_value_is_a_valid_value(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "empty", "--value", "")
    assert res.exit_code == 0, res
    assert get_bytes(cli, store_id, "empty") == b""
    assert describe(cli, store_id, "empty")["size"] == 0


def test_value_from_stdin_is_binary_safe(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "bin", "--value-file", "-", input=ALL_BYTES)
    assert res.exit_code == 0, res
    assert get_bytes(cli, store_id, "bin") == ALL_BYTES


def test_value_from_file_five_megabytes(cli, store_id, tmp_path):
    value = (ALL_BYTES[::-1] * (5 * 1024 * 1024 // 256))
    path = tmp_path / "big.bin"
    path.write_bytes(value)
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "big", "--value-file", path)
    assert res.exit_code == 0, res
    assert get_bytes(cli, store_id, "big") == value


def test_value_from_empty_file(cli, store_id, tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "e", "--value-file", path).exit_code == 0
    assert get_bytes(cli, store_id, "e") == b""


def test_unicode_value_is_stored_as_utf8(cli, store_id):
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "u", "--value", "héllo 🙂").exit_code == 0
    assert get_bytes(cli, store_id, "u") == "héllo 🙂".encode()


def test_value_too_large_is_refused_before_sending(cli, store_id, tmp_path):
    env = {"KVCLI_MAX_VALUE_BYTES": "10"}
    path = tmp_path / "eleven"
    path.write_bytes(b"x" * 11)
    for args, inp in (
        (["--value-file", str(path)], None),
        (["--value-file", "-"], b"y" * 11),
        (["--value", "z" * 11], None),
    ):
        res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k", *args, input=inp, env=env)
        assert res.exit_code == 2, res
        assert "limit" in one_error_line(res)
    ok = cli("kv-store-entry", "create", "-s", store_id, "-k", "k", "--value", "z" * 10, env=env)
    assert ok.exit_code == 0, ok
    assert cli("kv-store-entry", "list", "-s", store_id).stdout == "k\n"


AWKWARD = [
    "a/b c%d", "a/b c%2Fd%e", 'q"uote\\slash', "  lead and trail  ", "pct%d%s", "ünï/日本/🙂", "-dash", "é" * 512
]


@pytest.mark.parametrize("key", AWKWARD)
def test_awkward_keys(cli, store_id, key):
    res = cli("kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value", "v")
    assert res.exit_code == 0, res
    assert get_bytes(cli, store_id, key) == b"v"
    assert describe(cli, store_id, key)["key"] == key


def test_key_length_limit(cli, store_id):
    ok = cli("kv-store-entry", "create", "-s", store_id, "-k", "k" * 1024, "--value", "v")
    assert ok.exit_code == 0, ok
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k" * 1025, "--value", "v")
    assert res.exit_code == 2, res
    line = one_error_line(res)
    assert "1025 bytes" in line and "1024" in line


@pytest.mark.parametrize("key", ["has#hash", "q?", ".", "..", ".well-known/acme-challenge/t"])
def test_invalid_keys_are_refused(cli, store_id, key):
    res = cli("kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value", "v")
    assert res.exit_code == 2, res
    assert one_error_line(res).startswith("Error: invalid key")


def test_metadata_is_stored_and_replaced_on_every_write(cli, store_id):
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "m", "--value", "1", "--metadata",
               '{"a": 1}').exit_code == 0
    assert describe(cli, store_id, "m")["metadata"] == '{"a": 1}'
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "m", "--value", "2").exit_code == 0
    assert describe(cli, store_id, "m")["metadata"] == ""


def test_metadata_limits(cli, store_id):
    ok = cli("kv-store-entry", "create", "-s", store_id, "-k", "m", "--value", "1", "--metadata", "é" * 1000)
    assert ok.exit_code == 0, ok
    assert describe(cli, store_id, "m")["metadata"] == "é" * 1000
    for bad in ("x" * 2001, "two\nlines", "cr\rhere"):
        res = cli("kv-store-entry", "create", "-s", store_id, "-k", "m", "--value", "2", "--metadata", bad)
        assert res.exit_code == 2, res
        one_error_line(res)
    assert get_bytes(cli, store_id, "m") == b"1"


def test_generation_changes_on_every_write(cli, store_id):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "g", "--value", "1")
    g1 = describe(cli, store_id, "g")["generation"]
    cli("kv-store-entry", "create", "-s", store_id, "-k", "g", "--value", "1")
    g2 = describe(cli, store_id, "g")["generation"]
    assert isinstance(g1, str) and g1.isdigit() and g1 != g2


def test_if_generation_match(cli, store_id):
    cli("kv-store-entry", "create", "-s", store_id, "-k", "g", "--value", "1")
    gen = describe(cli, store_id, "g")["generation"]
    bad = cli("kv-store-entry", "create", "-s", store_id, "-k", "g", "--value", "2",
              "--if-generation-match", str(int(gen) + 1))
    assert bad.exit_code == 4, bad
    assert gen in bad.stderr  # says which generation is current
    assert get_bytes(cli, store_id, "g") == b"1"
    ok = cli("kv-store-entry", "create", "-s", store_id, "-k", "g", "--value", "2", "--if-generation-match", gen)
    assert ok.exit_code == 0, ok
    assert get_bytes(cli, store_id, "g") == b"2"


def test_if_generation_match_zero_means_the_key_must_not_exist(cli, store_id):
    ok = cli("kv-store-entry", "create", "-s", store_id, "-k", "n", "--value", "1", "--if-generation-match", "0")
    assert ok.exit_code == 0, ok
    again = cli("kv-store-entry", "create", "-s", store_id, "-k", "n", "--value", "2", "--if-generation-match", "0")
    assert again.exit_code == 4, again
    assert get_bytes(cli, store_id, "n") == b"1"


@pytest.mark.parametrize("bad", ["abc", "-1", "18446744073709551616", "1.5"])
def test_bad_generation_values_are_usage_errors(cli, store_id, bad):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k", "--value", "1", f"--if-generation-match={bad}")
    assert res.exit_code == 2, res


def test_add_on_an_existing_key_fails(cli, store_id):
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", "1", "--add").exit_code == 0
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", "2", "--add")
    assert res.exit_code == 4, res
    assert "already exists" in res.stderr
    assert get_bytes(cli, store_id, "a") == b"1"


def test_append_and_prepend(cli, store_id):
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", "mid", "--append").exit_code == 0
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", ">", "--append").exit_code == 0
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value-file", "-", "--prepend",
               input=b"\x00<").exit_code == 0
    assert get_bytes(cli, store_id, "a") == b"\x00<mid>"


def test_ttl_and_background_fetch(cli, store_id):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "t", "--value", "1", "--ttl", "3600",
              "--background-fetch")
    assert res.exit_code == 0, res
    assert describe(cli, store_id, "t")["expires_at"] is not None
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "t", "--value", "1", "--ttl", "0").exit_code == 2


@pytest.mark.parametrize(
    "flags",
    [
        ["--append", "--prepend"],
        ["--add", "--append"],
        ["--add", "--prepend"],
        ["--add", "--if-generation-match", "3"],
        ["--value-file", "-"],  # with --value below
    ],
)
def test_conflicting_flags_are_usage_errors(cli, store_id, flags):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "c", "--value", "1", *flags, input=b"x")
    assert res.exit_code == 2, res
    one_error_line(res)
    assert cli("kv-store-entry", "list", "-s", store_id).stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-k", "k"], "no value"),
        (["--value", "v"], "no key"),
        (["-k", "", "--value", "v"], "empty"),
        (["-k", "k", "--value-file", "does-not-exist"], "does-not-exist"),
    ],
)
def test_missing_or_bad_inputs_are_usage_errors(cli, store_id, args, needle):
    res = cli("kv-store-entry", "create", "-s", store_id, *args)
    assert res.exit_code == 2, res
    assert needle in res.stderr


def test_value_file_that_is_a_directory(cli, store_id, tmp_path):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k", "--value-file", tmp_path)
    assert res.exit_code == 2, res


def test_no_store_and_missing_store(cli, store_id):
    res = cli("kv-store-entry", "create", "-k", "k", "--value", "v")
    assert res.exit_code == 2, res
    res = cli("kv-store-entry", "create", "-s", "nosuchstore", "-k", "k", "--value", "v")
    assert res.exit_code == 3, res
    assert "nosuchstore" in one_error_line(res)
    res = cli("kv-store-entry", "create", "--store-name", "nope", "-k", "k", "--value", "v")
    assert res.exit_code == 3, res
    assert "nope" in one_error_line(res)


# --------------------------------------------------------------------------------------- bulk import delegation
def test_more_than_one_bulk_source_is_a_usage_error(cli, store_id, tmp_path):
    res = cli("kv-store-entry", "create", "-s", store_id, "--stdin", "--file", tmp_path / "x")
    assert res.exit_code == 2, res
    assert "--stdin" in res.stderr and "--file" in res.stderr
    res = cli("kv-store-entry", "create", "-s", store_id, "--dir", tmp_path, "--file", tmp_path / "x")
    assert res.exit_code == 2, res


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stdin"], {"stdin": True, "file": None, "dir": None}),
        (["--file", "data.ndjson"], {"stdin": False, "file": "data.ndjson", "dir": None}),
        (["--dir", "d", "--dir-allow-hidden", "--dir-concurrency", "7"],
         {"dir": "d", "dir_allow_hidden": True, "dir_concurrency": 7}),
    ],
)
def test_bulk_flags_delegate_everything_to_entry_bulk(cli, store_id, monkeypatch, args, expected):
    import kvcli.cli.entry_bulk as eb
    from kvcli import records
    from kvcli.cli.state import State

    calls: list = []

    def run_import(state, flags):  # the command passes its State explicitly (no global lookup)
        assert isinstance(state, State)
        calls.append(flags)
        return 0

    monkeypatch.setattr(eb, "run_import", run_import)
    res = cli("kv-store-entry", "create", "--store-name", "test-store", "--json", *args)
    assert res.exit_code == 0, res
    assert len(calls) == 1
    flags = calls[0]
    assert isinstance(flags, eb.ImportFlags)  # one typed record, not a bag of keyword arguments
    kw = {name: getattr(flags, name) for name in records.fields(flags)}
    assert kw["store_name"] == "test-store" and kw["store_id"] is None and kw["json_out"] is True
    for name, value in expected.items():
        assert kw[name] == value
    assert kw.get("dir_concurrency", 50) in (50, 7)


def test_a_misspelled_import_flag_is_a_type_error_where_it_is_made():
    from kvcli.cli.entry_bulk import ImportFlags

    with pytest.raises(TypeError, match="dry_rnu"):
        ImportFlags(file="x", dry_rnu=True)  # type: ignore[call-arg]


def test_bulk_import_absent_is_a_clear_error(cli, store_id, monkeypatch):
    import kvcli.cli.kv_store_entry  # noqa: F401 - loaded first: only the bulk module goes missing

    monkeypatch.setitem(sys.modules, "kvcli.cli.entry_bulk", None)  # import fails as if the module did not exist
    res = cli("kv-store-entry", "create", "-s", store_id, "--stdin", input=b"")
    assert res.exit_code == 2, res
    assert "bulk import is not available" in res.stderr
