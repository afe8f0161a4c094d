"""Library errors (engine, adapters, bulk operations) name no CLI flag: they carry a reason and facts, and the CLI
words its own hint from them (kvcli/cli/hints.py), so the command line says what it always said."""

from __future__ import annotations

import re

import pytest

import kvcli
from kvcli.api.errors import KvcliError

#: a CLI flag: -t, --force, -n/--name, -O (not a hyphen inside a word, nor a negative number)
FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


def no_flag(err: KvcliError) -> None:
    for text in (str(err), err.message, err.hint or ""):
        assert not FLAG.search(text), f"{type(err).__name__} names a CLI flag: {text!r}"


def raised(fn) -> KvcliError:
    with pytest.raises(KvcliError) as info:
        fn()
    return info.value


def test_store_and_item_errors_name_no_flag(kv, store, tmp_path):
    store["k"] = b"v"
    errors = [
        raised(lambda: store.put("k", b"x", mode="add")),  # key exists
        raised(lambda: store.put("k", b"x", if_generation_match=0)),  # generation 0 needs a new key
        raised(lambda: store.delete("missing")),  # missing key without missing_ok
        raised(lambda: kv.delete_store(store)),  # not empty
        raised(lambda: kv.create_store("")),  # empty name
    ]
    reasons = [e.reason for e in errors]
    assert reasons == ["key_exists", "generation_not_new", "key_missing", "store_not_empty", "store_name_empty"] \
        if kv.local else "store_not_empty" in reasons  # over HTTP the 412/404 come from the status alone
    for e in errors:
        no_flag(e)


def test_import_and_export_errors_name_no_flag(store, tmp_path):
    (tmp_path / "data.txt").write_bytes(b"\x00\x01 not any format")
    (tmp_path / "two.toml").write_text('[local_server.kv_stores]\na = []\nb = []\n')
    (tmp_path / "a-file").write_text("x")
    errors = [
        raised(lambda: store.import_file(tmp_path / "nope.ndjson")),
        raised(lambda: store.import_file(tmp_path / "data.txt")),  # the format cannot be told
        raised(lambda: store.import_file(tmp_path / "data.txt", format="csv")),
        raised(lambda: store.import_file(tmp_path, format="ndjson")),  # a format for a directory
        raised(lambda: store.import_file(tmp_path / "data.txt", format="ndjson", toml_store="a")),
        raised(lambda: store.import_file(tmp_path / "two.toml")),  # several stores: pick one
        raised(lambda: store.export(tmp_path / "a-file", format="dir")),
        raised(lambda: store.export(tmp_path / "no" / "such" / "dir.ndjson")),
    ]
    for e in errors:
        no_flag(e)
    assert {e.reason for e in errors} >= {"file_missing", "format_unknown_input", "unknown_format",
                                          "format_not_for_dir", "toml_store_not_toml", "toml_pick",
                                          "export_not_a_directory", "cannot_write"}


def test_transport_and_token_errors_name_no_flag(tmp_path):
    from kvcli.api.errors import ConfigError, TransportError

    with pytest.raises(ConfigError) as bad_endpoint:
        kvcli.connect(endpoint="ftp://example.invalid", token="t", env={})
    no_flag(bad_endpoint.value)
    with pytest.raises(ConfigError) as bad_token:
        kvcli.connect(endpoint="http://127.0.0.1:9", token="two words", env={})
    no_flag(bad_token.value)
    with kvcli.connect(endpoint="http://127.0.0.1:9", token="t", env={}, max_attempts=1) as kv:
        with pytest.raises(TransportError) as refused:
            kv.store("demo")
    no_flag(refused.value)
    assert refused.value.reason == "unreachable"


def test_the_cli_words_the_same_errors_with_its_flags(cli, store_id, tmp_path):
    """The other side: the command line still names the flag that fixes it."""
    assert cli("kv-store-entry", "create", "-s", store_id, "-k", "k", "--value", "v").exit_code == 0
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "k", "--value", "v", "--add")
    assert res.exit_code == 4 and res.stderr.endswith("(hint: drop --add to overwrite it)\n"), res
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "missing")
    assert res.exit_code == 3 and "(hint: pass --force to ignore missing keys)" in res.stderr, res
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "nope.ndjson")
    assert res.exit_code == 2 and "(hint: check the path given to --file)" in res.stderr, res
    res = cli("kv-store-entry", "create", "-s", store_id, "--file", tmp_path / "x", "--format", "csv")
    assert res.exit_code == 2 and "Error: unknown --format 'csv' (hint: use one of:" in res.stderr, res
