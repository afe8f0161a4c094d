"""`kv-store-entry get` and `describe` through the CLI."""

from __future__ import annotations

import base64
import json

import pytest

ALL_BYTES = bytes(range(256))


def one_error_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if not line.startswith("Using ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res
    return lines[0]


@pytest.fixture
def put(cli, store_id):
    def _put(key: str, value: bytes, *flags: str) -> None:
        res = cli("kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value-file", "-", *flags,
                  input=value)
        assert res.exit_code == 0, res

    return _put


def generation(cli, store_id: str, key: str) -> str:
    return cli("kv-store-entry", "describe", "-s", store_id, f"--key={key}", "--json").json()["generation"]


# ------------------------------------------------------------------------------------------------------------ get
@pytest.mark.parametrize("value", [b"", b"no newline", b"line\n", ALL_BYTES, b"\xff\xfe\x00"], ids=repr)
def test_get_prints_the_raw_bytes_and_nothing_else(cli, store_id, put, value):
    put("k", value)
    res = cli("kv-store-entry", "get", "-s", store_id, "-k", "k")
    assert res.exit_code == 0, res
    assert res.stdout_bytes == value


def test_get_by_store_name(cli, store_id, put):
    put("k", b"v")
    res = cli("kv-store-entry", "get", "--store-name", "test-store", "-k", "k")
    assert (res.exit_code, res.stdout_bytes) == (0, b"v")


JSON_KEYS = ["k1", 'q"uote', "back\\slash", 'both\\"', "ünï 🙂", "<tag>&amp", "tab\tkey", "a/b c%d", "\x01ctl"]


@pytest.mark.parametrize("key", JSON_KEYS)
def test_get_json_is_valid_for_any_key(cli, store_id, put, key):
    put(key, ALL_BYTES)
    res = cli("kv-store-entry", "get", "-s", store_id, f"--key={key}", "--json")
    assert res.exit_code == 0, res
    assert res.stdout.endswith("}\n") and res.stdout.count("\n") == 1  # the official one-line shape
    data = json.loads(res.stdout)
    assert list(data) == [key]
    assert base64.b64decode(data[key]) == ALL_BYTES


def test_get_json_official_bytes(cli, store_id, put):
    put("k1", b">>hello world")
    res = cli("kv-store-entry", "get", "-s", store_id, "-k", "k1", "-j")
    assert res.stdout == '{"k1": "Pj5oZWxsbyB3b3JsZA=="}\n'


def test_get_if_generation_match(cli, store_id, put):
    put("k", b"v")
    gen = generation(cli, store_id, "k")
    ok = cli("kv-store-entry", "get", "-s", store_id, "-k", "k", "--if-generation-match", gen)
    assert (ok.exit_code, ok.stdout_bytes) == (0, b"v")
    bad = cli("kv-store-entry", "get", "-s", store_id, "-k", "k", "--if-generation-match", "12345")
    assert bad.exit_code == 4, bad
    line = one_error_line(bad)
    assert "current generation is " + gen in line and "12345" in line
    assert bad.stdout_bytes == b""


def test_get_missing_key_and_store_exit_3(cli, store_id):
    res = cli("kv-store-entry", "get", "-s", store_id, "-k", "nope")
    assert res.exit_code == 3, res
    assert "nope" in one_error_line(res)
    assert res.stdout_bytes == b""
    res = cli("kv-store-entry", "get", "-s", "nosuchstore", "-k", "k")
    assert res.exit_code == 3, res
    one_error_line(res)
    res = cli("kv-store-entry", "get", "--store-name", "nosuchname", "-k", "k", "--json")
    assert res.exit_code == 3, res
    assert res.stdout == ""


def test_get_needs_a_key(cli, store_id):
    assert cli("kv-store-entry", "get", "-s", store_id).exit_code == 2
    assert cli("kv-store-entry", "get", "-s", store_id, "-k", "").exit_code == 2


# ------------------------------------------------------------------------------------------------------ describe
def test_describe_json_has_the_official_fields_then_extras(cli, store_id, put):
    put("k2", b"12345", "--metadata", '{"m":1}')
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "k2", "--json")
    assert res.exit_code == 0, res
    data = res.json()
    assert list(data)[:3] == ["generation", "key", "metadata"]
    assert data["key"] == "k2" and data["metadata"] == '{"m":1}'
    assert isinstance(data["generation"], str) and int(data["generation"]) > 0
    assert data["size"] == 5
    assert data["last_modified"].endswith("Z") and "T" in data["last_modified"]
    assert data["expires_at"] is None


def test_describe_table(cli, store_id, put):
    put("k", b"abc", "--metadata", "[red]not markup[/red]", "--ttl", "60")
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "k")
    assert res.exit_code == 0, res
    out = res.stdout
    for label in ("Key", "Generation", "Metadata", "Size", "Last modified", "Expires"):
        assert label in out
    assert "[red]not markup[/red]" in out  # shown verbatim, not interpreted by the table renderer
    assert "3 bytes" in out
    assert generation(cli, store_id, "k") in out
    assert "never" not in out


def test_describe_missing_exit_3(cli, store_id):
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "nope", "--json")
    assert res.exit_code == 3, res
    assert res.stdout == ""
    one_error_line(res)


def test_describe_does_not_fetch_the_value(cli, store_id, put, monkeypatch):
    """describe goes through describe_item; get_item (which downloads the value) is never called."""
    put("k", b"x" * 1000)
    import kvcli.config

    real = kvcli.config.make_api

    def make_api(target, **kw):
        api = real(target, **kw)

        def no_get(*a, **k):
            raise AssertionError("describe must not download the value")

        api.get_item = no_get
        return api

    monkeypatch.setattr(kvcli.config, "make_api", make_api)
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "k", "--json")
    assert res.exit_code == 0, res
    assert res.json()["size"] == 1000
