"""Messages of single-store and single-key commands name the store the way the user did, with its ID."""

from __future__ import annotations

import pytest


@pytest.fixture
def sid(cli):
    res = cli("-q", "kv-store", "create", "--name", "named", "--json")
    assert res.exit_code == 0, res
    return res.json()["StoreID"]


def test_create_and_delete_of_one_key_by_store_name_say_the_name_and_the_id(cli, sid):
    res = cli("kv-store-entry", "create", "--store-name", "named", "-k", "hello", "--value", "v")
    assert f"SUCCESS: Created key 'hello' in KV Store 'named' ({sid})" in res.stderr, res
    res = cli("kv-store-entry", "delete", "--store-name", "named", "-k", "hello", "--dry-run")
    assert f"Dry run: would delete 1 key from KV Store 'named' ({sid})" in res.stderr, res
    res = cli("kv-store-entry", "delete", "--store-name", "named", "-k", "hello")
    assert f"SUCCESS: Deleted key 'hello' from KV Store 'named' ({sid})" in res.stderr, res


def test_by_store_id_the_messages_keep_the_official_form(cli, sid):
    res = cli("kv-store-entry", "create", "-s", sid, "-k", "hello", "--value", "v")
    assert f"SUCCESS: Created key 'hello' in KV Store '{sid}'\n" in res.stderr, res
    res = cli("kv-store-entry", "delete", "-s", sid, "-k", "hello")
    assert f"SUCCESS: Deleted key 'hello' from KV Store '{sid}'\n" in res.stderr, res


def test_store_delete_by_name_says_the_name_and_the_id(cli, sid):
    res = cli("kv-store", "delete", "--store-name", "named")
    assert res.exit_code == 0 and f"SUCCESS: Deleted KV Store 'named' ({sid})" in res.stderr, res


def test_store_delete_all_by_name_warns_and_reports_with_the_name(cli, sid):
    assert cli("-q", "kv-store-entry", "create", "-s", sid, "-k", "a", "--value", "v").exit_code == 0
    res = cli("-y", "kv-store", "delete", "--store-name", "named", "--all")
    assert res.exit_code == 0 and f"SUCCESS: Deleted KV Store 'named' ({sid})" in res.stderr, res


def test_store_create_says_the_name_and_the_id(cli):
    res = cli("kv-store", "create", "--name", "fresh")
    assert res.exit_code == 0 and "SUCCESS: Created KV Store 'fresh' (" in res.stderr, res


# ------------------------------------------------------------------------------------------ input forms
@pytest.mark.parametrize(("given", "canonical"), [("eu", "EU"), ("Asia", "ASIA"), ("aus", "AUS"), ("US", "US")])
def test_a_location_is_accepted_in_any_case_and_stored_canonical(cli, given, canonical):
    res = cli("-q", "kv-store", "create", "--name", f"s-{given}", "-l", given, "--json")
    assert res.exit_code == 0 and res.json()["Location"] == canonical, res
    listed = cli("kv-store", "list", "--json").json()["Data"]
    assert [s["Location"] for s in listed] == [canonical]


def test_over_http_the_canonical_location_is_sent(cli, tmp_path):
    from kvcli.local.engine import Engine
    from tests.served import LocalServe

    serve = LocalServe(tmp_path / "served")
    try:
        res = cli("-q", "--endpoint", serve.url, "kv-store", "create", "--name", "remote", "-l", "eu", "--json")
        assert res.exit_code == 0 and res.json()["Location"] == "EU", res
    finally:
        serve.stop()
    engine = Engine.in_dir(tmp_path / "served")
    try:
        assert [s.location for s in engine.list_stores().items] == ["EU"]  # what the server was sent
    finally:
        engine.close()


@pytest.mark.parametrize("location", ["MARS", "AU", "e u"])
def test_an_unknown_location_names_the_choices(cli, location):
    res = cli("kv-store", "create", "--name", "x", "-l", location)
    assert res.exit_code == 2 and "US, EU, ASIA or AUS" in res.stderr and "upper case" not in res.stderr, res


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--ttl", "abc"], "Error: --ttl takes a number of seconds, a whole number of at least 1: got 'abc'"),
        (["--ttl", "-5"], "Error: --ttl takes a number of seconds, a whole number of at least 1: got -5"),
        (["--ttl", "1.5"], "Error: --ttl takes a number of seconds, a whole number of at least 1: got '1.5'"),
    ],
)
def test_a_bad_ttl_is_one_clear_line_naming_the_expected_value(cli, store_id, argv, expected):
    res = cli("kv-store-entry", "create", "-s", store_id, "-k", "a", "--value", "v", *argv)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res
    assert res.stderr.startswith(expected + " (hint: "), res
    assert "integer range" not in res.stderr and "x>=1" not in res.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kv-store-entry", "list", "-s", "x", "--limit", "many"],
         "--limit takes a whole number of at least 1: got 'many'"),
        (["local", "serve", "--port", "99999"], "--port takes a whole number from 0 to 65535: got 99999"),
        (["kv-store", "delete", "-s", "x", "--concurrency", "lots"], "--concurrency takes a whole number: got 'lots'"),
    ],
)
def test_every_integer_option_says_what_it_expects(cli, argv, expected):
    res = cli(*argv)
    assert res.exit_code == 2 and expected in res.stderr and res.stderr.count("\n") == 1, res


@pytest.mark.parametrize("command", ["create", "link"])
def test_resource_link_store_name_help_names_the_flag_it_replaces(command):
    import click

    from kvcli.cli.main import get_root_command

    root = get_root_command()
    ctx = click.Context(root)
    group = root.get_command(ctx, "resource-link")
    cmd = group.get_command(ctx, command)
    params = {p.name: p for p in cmd.params}
    assert "--resource-id" in params["resource_id"].opts
    assert "--resource-id" in params["store_name"].help and "--store-id" not in params["store_name"].help
