"""`kvcli service …` on the embedded backend."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def sid(cli) -> str:
    res = cli("service", "create", "--name", "web", "--json")
    assert res.exit_code == 0, res
    return res.json()["id"]


def versions(cli, sid) -> list[dict]:
    res = cli("service", "version", "list", "-s", sid, "--json")
    assert res.exit_code == 0, res
    return res.json()


def test_create_json_and_text(cli):
    res = cli("service", "create", "-n", "edge-app", "--type", "vcl", "--comment", "hi", "--json")
    assert res.exit_code == 0, res
    body = res.json()
    assert re.fullmatch(r"[0-9A-Za-z]{22}", body["id"])
    assert body["name"] == "edge-app" and body["type"] == "vcl" and body["comment"] == "hi"
    assert body["active_version"] is None and body["latest_version"] == 1
    assert [v["number"] for v in body["versions"]] == [1]
    assert body["versions"][0]["active"] is False and body["versions"][0]["locked"] is False
    res = cli("service", "create", "-n", "second")
    assert res.exit_code == 0 and res.stdout == ""
    assert "SUCCESS: Created service" in res.stderr and "'second'" in res.stderr and "type wasm" in res.stderr


def test_create_rejects_bad_type_and_duplicates(cli, sid):
    res = cli("service", "create", "-n", "x", "--type", "compute")
    assert res.exit_code == 2, res
    assert "wasm" in res.stderr
    res = cli("service", "create", "-n", "web")
    assert res.exit_code == 4, res
    assert "already exists" in res.stderr


def test_list(cli):
    res = cli("service", "list")
    assert res.exit_code == 0 and res.stdout == "" and "No services" in res.stderr
    assert cli("service", "list", "--json").json() == []
    a = cli("service", "create", "-n", "a", "--json").json()["id"]
    b = cli("service", "create", "-n", "b", "--json").json()["id"]
    assert [s["id"] for s in cli("service", "list", "--json").json()] == [a, b]
    res = cli("service", "list")
    assert a in res.stdout and b in res.stdout


def test_describe_by_id_name_env(cli, sid):
    by_name = cli("service", "describe", "--service-name", "web", "--json")
    assert by_name.exit_code == 0, by_name
    assert by_name.json()["id"] == sid
    by_env = cli("service", "get", "--json", env={"FASTLY_SERVICE_ID": sid})
    assert by_env.json() == by_name.json()
    text = cli("service", "describe", "-s", sid)
    assert f"ID\t{sid}\n" in text.stdout and "\nVersion\t1\teditable\t" in text.stdout  # piped: plain lines
    table = cli("service", "describe", "-s", sid, env={"COLUMNS": "200"})
    assert table.stdout == text.stdout
    missing = cli("service", "describe", "-s", "nope")
    assert missing.exit_code == 3 and "nope" in missing.stderr


def test_version_lifecycle(cli, sid):
    res = cli("service", "version", "clone", "-s", sid, "--version", "1")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Cloned service {sid} version 1 to version 2" in res.stderr
    res = cli("service", "version", "activate", "-s", sid, "--version", "latest", "--json")
    assert res.exit_code == 0, res
    assert res.json()["number"] == 2 and res.json()["active"] and res.json()["locked"]
    res = cli("service", "version", "activate", "--service-name", "web", "--version", "1")
    assert f"SUCCESS: Activated service {sid} version 1" in res.stderr
    states = {v["number"]: (v["active"], v["locked"]) for v in versions(cli, sid)}
    assert states == {1: (True, True), 2: (False, True)}
    res = cli("service", "version", "deactivate", "-s", sid, "--version", "active")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Deactivated service {sid} version 1" in res.stderr
    res = cli("service", "version", "deactivate", "-s", sid, "--version", "1")
    assert res.exit_code == 4 and "not active" in res.stderr
    res = cli("service", "version", "deactivate", "-s", sid, "--version", "active")
    assert res.exit_code == 3 and "no active version" in res.stderr


def test_clone_of_active_with_json(cli, sid):
    cli("service", "version", "activate", "-s", sid, "--version", "1")
    res = cli("service", "version", "clone", "-s", sid, "--version", "active", "--json")
    assert res.exit_code == 0, res
    body = res.json()
    assert body["number"] == 2 and not body["active"] and not body["locked"] and body["service_id"] == sid


def test_lock(cli, sid):
    res = cli("service", "version", "lock", "-s", sid, "--version", "1")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Locked service {sid} version 1" in res.stderr
    assert versions(cli, sid)[0]["locked"] is True
    text = cli("service", "version", "list", "-s", sid)
    assert "locked" in text.stdout


def test_version_commands_need_version_and_service(cli, sid, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("service", "version", "activate", "-s", sid)
    assert res.exit_code == 2 and "--version" in res.stderr
    res = cli("service", "version", "lock", "--version", "1")
    assert res.exit_code == 2 and "--service-id" in res.stderr
    res = cli("service", "version", "lock", "-s", sid, "--version", "7")
    assert res.exit_code == 3 and "version 7" in res.stderr


def test_delete_asks_without_a_terminal_and_deletes_with_yes(cli, sid):
    res = cli("service", "delete", "-s", sid)
    assert res.exit_code == 2, res
    assert "-y" in res.stderr
    assert cli("service", "describe", "-s", sid).exit_code == 0
    res = cli("-y", "service", "delete", "-s", sid, "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"id": sid, "deleted": True}
    assert cli("service", "describe", "-s", sid).exit_code == 3


def test_delete_active_service_needs_force(cli, sid, store_id):
    cli("resource-link", "create", "-s", sid, "--version", "1", "-r", store_id)
    cli("service", "version", "activate", "-s", sid, "--version", "1")
    res = cli("service", "delete", "-s", sid, "-y")
    assert res.exit_code == 4, res
    assert "--force" in res.stderr
    res = cli("service", "delete", "-s", sid, "-y", "--force")
    assert res.exit_code == 0, res
    assert "Deactivated version 1" in res.stderr and "SUCCESS: Deleted service" in res.stderr
    # its links went with it, so the store can go now
    assert cli("kv-store", "delete", "--store-id", store_id).exit_code == 0


def test_every_command_has_an_example(cli):
    for path in (
        ["service", "create"], ["service", "list"], ["service", "describe"], ["service", "delete"],
        ["service", "version", "list"], ["service", "version", "clone"], ["service", "version", "activate"],
        ["service", "version", "deactivate"], ["service", "version", "lock"],
        ["resource-link", "create"], ["resource-link", "list"], ["resource-link", "describe"],
        ["resource-link", "update"], ["resource-link", "delete"],
    ):  # fmt: skip
        res = cli(*path, "--help")
        assert res.exit_code == 0, (path, res)
        assert "Example: kvcli" in res.stdout, path


def test_update_renames_and_comments(cli, sid):
    res = cli("service", "update", "-s", sid, "--name", "web2", "--comment", "KV only")
    assert res.exit_code == 0, res
    assert res.stdout == "" and f"SUCCESS: Updated service {sid}" in res.stderr
    body = cli("service", "describe", "--service-name", "web2", "--json").json()
    assert body["id"] == sid and body["name"] == "web2" and body["comment"] == "KV only"
    res = cli("service", "update", "--service-name", "web2", "--comment", "", "--json")
    assert res.exit_code == 0, res
    assert res.json()["comment"] == "" and res.json()["name"] == "web2"


def test_update_refusals(cli, sid):
    res = cli("service", "update", "-s", sid)
    assert res.exit_code == 2 and "nothing to update" in res.stderr and "--name" in res.stderr
    cli("service", "create", "-n", "other")
    res = cli("service", "update", "-s", sid, "-n", "other")
    assert res.exit_code == 4 and "already exists" in res.stderr
    res = cli("service", "update", "-s", sid, "-n", "")
    assert res.exit_code == 2 and "empty" in res.stderr
    res = cli("service", "update", "-s", "NoSuchService000000000", "-n", "x")
    assert res.exit_code == 3
    assert "Traceback" not in res.stderr
    assert cli("service", "describe", "-s", sid, "--json").json()["name"] == "web"


def test_version_update_comment(cli, sid):
    res = cli("service", "version", "update", "-s", sid, "--version", "latest", "--comment", "first")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Updated service {sid} version 1" in res.stderr
    assert versions(cli, sid)[0]["comment"] == "first"
    cli("service", "version", "activate", "-s", sid, "--version", "1")
    res = cli("service", "version", "update", "-s", sid, "--version", "active", "--comment", "second")
    assert res.exit_code == 4, res
    assert "--autoclone" in res.stderr
    res = cli("service", "version", "update", "-s", sid, "--version", "active", "--comment", "second",
              "--autoclone", "--json")  # fmt: skip
    assert res.exit_code == 0, res
    assert res.json()["number"] == 2 and res.json()["comment"] == "second"
    assert "cloned because --autoclone was given" in res.stderr
    assert [(v["number"], v["comment"]) for v in versions(cli, sid)] == [(1, "first"), (2, "second")]
    res = cli("service", "version", "update", "-s", sid, "--version", "latest")
    assert res.exit_code == 2 and "--comment" in res.stderr
