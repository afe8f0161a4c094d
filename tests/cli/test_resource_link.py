"""`kvcli resource-link …` and `kvcli service resource-link …` on the embedded backend."""

from __future__ import annotations

import pytest

LINK_KEYS = [
    "created_at", "deleted_at", "href", "id", "name", "resource_id", "resource_type", "service_id", "version",
    "updated_at",
]  # fmt: skip


@pytest.fixture
def sid(cli) -> str:
    res = cli("service", "create", "--name", "web", "--json")
    assert res.exit_code == 0, res
    return res.json()["id"]


def link(cli, sid, store_id, *extra, version="latest"):
    res = cli("resource-link", "create", "-s", sid, "--version", version, "-r", store_id, "--json", *extra)
    assert res.exit_code == 0, res
    return res.json()


def test_create_json_has_the_official_shape(cli, sid, store_id):
    body = link(cli, sid, store_id, "-n", "my_store")
    assert list(body) == LINK_KEYS
    assert body["name"] == "my_store"
    assert body["resource_id"] == store_id
    assert body["resource_type"] == "kv-store"
    assert body["service_id"] == sid and body["version"] == 1
    assert body["deleted_at"] is None and body["href"] is None
    assert body["created_at"].endswith("Z") and len(body["id"]) == 22


def test_create_text_goes_to_stderr_and_name_defaults_to_store_name(cli, sid, store_id):
    res = cli("service", "resource-link", "create", "-s", sid, "--version", "1", "-r", store_id)
    assert res.exit_code == 0, res
    assert res.stdout == ""
    assert 'SUCCESS: Created service resource link "test-store" (' in res.stderr
    assert f"on service {sid} version 1" in res.stderr


def test_quiet_silences_success(cli, sid, store_id):
    res = cli("resource-link", "create", "-s", sid, "--version", "1", "-r", store_id, "-q")
    assert res.exit_code == 0, res
    assert res.stderr == "" and res.stdout == ""


def test_store_name_instead_of_resource_id(cli, sid, store_id):
    res = cli("resource-link", "link", "-s", sid, "--version", "latest", "--store-name", "test-store", "--json")
    assert res.exit_code == 0, res
    assert res.json()["resource_id"] == store_id


@pytest.mark.parametrize(
    "args",
    [
        ["-r", "x", "--store-name", "y"],  # both
        [],  # neither
    ],
)
def test_store_flags_are_exclusive_and_required(cli, sid, args):
    res = cli("resource-link", "create", "-s", sid, "--version", "1", *args)
    assert res.exit_code == 2, res
    assert res.stderr.startswith("Error:") and "--resource-id" in res.stderr


def test_unknown_store_is_not_found(cli, sid):
    res = cli("resource-link", "create", "-s", sid, "--version", "1", "-r", "nosuchstore")
    assert res.exit_code == 3, res
    assert "nosuchstore" in res.stderr


def test_duplicate_link_name_is_a_conflict(cli, sid, store_id):
    link(cli, sid, store_id, "-n", "same")
    res = cli("resource-link", "create", "-s", sid, "--version", "1", "-r", store_id, "-n", "same")
    assert res.exit_code == 4, res
    assert "'same'" in res.stderr


# --------------------------------------------------------------------------------------------- service ID source
def test_service_id_from_env(cli, sid, store_id):
    res = cli("resource-link", "list", "--version", "1", "--json", env={"FASTLY_SERVICE_ID": sid})
    assert res.exit_code == 0, res
    assert res.json() == []


def test_service_id_from_fastly_toml_in_cwd(cli, sid, store_id, tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "fastly.toml").write_text(f'manifest_version = 3\nname = "app"\nservice_id = "{sid}"\n')
    monkeypatch.chdir(proj)
    body = link(cli, sid, store_id)
    res = cli("resource-link", "list", "--version", "1", "--json", "-v")
    assert res.exit_code == 0, res
    assert [x["id"] for x in res.json()] == [body["id"]]
    assert f"Service ID (via fastly.toml): {sid}" in res.stderr


def test_service_id_precedence_flag_then_env_then_manifest(cli, sid, tmp_path, monkeypatch):
    other = cli("service", "create", "-n", "other", "--json").json()["id"]
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "fastly.toml").write_text('service_id = "fromtoml"\n')
    monkeypatch.chdir(proj)
    # env beats fastly.toml
    res = cli("resource-link", "list", "--version", "1", "-v", env={"FASTLY_SERVICE_ID": other})
    assert res.exit_code == 0, res
    assert f"(via FASTLY_SERVICE_ID): {other}" in res.stderr
    # the flag beats env
    res = cli("resource-link", "list", "--version", "1", "-v", "-s", sid, env={"FASTLY_SERVICE_ID": other})
    assert f"(via --service-id): {sid}" in res.stderr
    # --service-name beats env too
    env = {"FASTLY_SERVICE_ID": other}
    res = cli("resource-link", "list", "--version", "1", "-v", "--service-name", "web", env=env)
    assert f"(via --service-name): {sid}" in res.stderr
    # fastly.toml alone: an unknown service there is reported as not found
    res = cli("resource-link", "list", "--version", "1")
    assert res.exit_code == 3 and "fromtoml" in res.stderr


def test_broken_fastly_toml_is_reported(cli, tmp_path, monkeypatch):
    (tmp_path / "fastly.toml").write_text("service_id = \n")
    monkeypatch.chdir(tmp_path)
    res = cli("resource-link", "list", "--version", "1")
    assert res.exit_code == 1, res
    assert "fastly.toml" in res.stderr


def test_no_service_anywhere_is_a_usage_error(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli("resource-link", "list", "--version", "1")
    assert res.exit_code == 2, res
    assert "FASTLY_SERVICE_ID" in res.stderr and "fastly.toml" in res.stderr


def test_service_id_and_name_are_exclusive(cli, sid):
    res = cli("resource-link", "list", "--version", "1", "-s", sid, "--service-name", "web")
    assert res.exit_code == 2, res


def test_unknown_service_name(cli):
    res = cli("resource-link", "list", "--version", "1", "--service-name", "nope")
    assert res.exit_code == 3, res
    assert "nope" in res.stderr


# ----------------------------------------------------------------------------------------------- --version
def test_version_keywords_numbers_and_errors(cli, sid, store_id):
    cli("service", "version", "clone", "-s", sid, "--version", "1")
    body = link(cli, sid, store_id, version="LATEST")
    assert body["version"] == 2
    res = cli("resource-link", "list", "-s", sid, "--version", "2", "--json")
    assert [x["id"] for x in res.json()] == [body["id"]]
    res = cli("resource-link", "list", "-s", sid, "--version", "1", "--json")
    assert res.json() == []
    for bad in ("bogus", "0", "-1", "1.5"):
        res = cli("resource-link", "list", "-s", sid, f"--version={bad}")
        assert res.exit_code == 2, (bad, res)
        assert '"latest"' in res.stderr
    res = cli("resource-link", "list", "-s", sid, "--version", "9")
    assert res.exit_code == 3 and "version 9" in res.stderr


def test_version_is_required(cli, sid):
    res = cli("resource-link", "list", "-s", sid)
    assert res.exit_code == 2, res
    assert "--version" in res.stderr


def test_active_without_an_active_version_is_an_error_not_latest(cli, sid):
    res = cli("resource-link", "list", "-s", sid, "--version", "active")
    assert res.exit_code == 3, res
    assert "no active version" in res.stderr and "--version latest" in res.stderr


def test_staged_is_an_error_on_the_embedded_backend(cli, sid):
    res = cli("resource-link", "list", "-s", sid, "--version", "staged")
    assert res.exit_code == 3, res
    assert "no staged version" in res.stderr


def test_active_resolves_to_the_active_version(cli, sid, store_id):
    body = link(cli, sid, store_id)
    cli("service", "version", "clone", "-s", sid, "--version", "1")
    assert cli("service", "version", "activate", "-s", sid, "--version", "1").exit_code == 0
    res = cli("resource-link", "describe", "-s", sid, "--version", "active", "--id", body["id"], "--json")
    assert res.exit_code == 0, res
    assert res.json()["version"] == 1


# ----------------------------------------------------------------------------------------------- --autoclone
def test_editing_the_active_version_needs_autoclone(cli, sid, store_id):
    cli("service", "version", "activate", "-s", sid, "--version", "1")
    res = cli("resource-link", "create", "-s", sid, "--version", "active", "-r", store_id)
    assert res.exit_code == 4, res
    assert "version 1" in res.stderr and "--autoclone" in res.stderr
    versions = cli("service", "version", "list", "-s", sid, "--json").json()
    assert [v["number"] for v in versions] == [1]  # nothing was cloned


def test_autoclone_clones_and_says_which_version(cli, sid, store_id):
    cli("service", "version", "activate", "-s", sid, "--version", "1")
    res = cli("resource-link", "create", "-s", sid, "--version", "active", "--autoclone", "-r", store_id, "--json")
    assert res.exit_code == 0, res
    assert res.json()["version"] == 2
    assert "version 1 is active" in res.stderr and "Now working on version 2" in res.stderr
    assert cli("resource-link", "list", "-s", sid, "--version", "1", "--json").json() == []


def test_autoclone_on_a_locked_version_keeps_link_ids(cli, sid, store_id):
    body = link(cli, sid, store_id, "-n", "before")
    cli("service", "version", "lock", "-s", sid, "--version", "1")
    res = cli("resource-link", "update", "-s", sid, "--version", "1", "--id", body["id"], "-n", "after")
    assert res.exit_code == 4, res
    assert "locked" in res.stderr
    res = cli(
        "resource-link", "update", "-s", sid, "--version", "1", "--id", body["id"], "-n", "after", "--autoclone",
        "--json",
    )
    assert res.exit_code == 0, res
    assert res.json()["version"] == 2 and res.json()["name"] == "after" and res.json()["id"] == body["id"]
    assert "version 1 is locked" in res.stderr
    old = cli("resource-link", "describe", "-s", sid, "--version", "1", "--id", body["id"], "--json").json()
    assert old["name"] == "before"


def test_autoclone_on_an_editable_version_does_not_clone(cli, sid, store_id):
    res = cli("resource-link", "create", "-s", sid, "--version", "1", "--autoclone", "-r", store_id, "--json")
    assert res.exit_code == 0, res
    assert res.json()["version"] == 1 and "INFO" not in res.stderr
    assert len(cli("service", "version", "list", "-s", sid, "--json").json()) == 1


# ------------------------------------------------------------------------------ list / describe / update / delete
def test_list_text_and_empty(cli, sid, store_id):
    res = cli("resource-link", "list", "-s", sid, "--version", "1")
    assert res.exit_code == 0 and res.stdout == ""
    assert "No resource links" in res.stderr
    body = link(cli, sid, store_id)
    res = cli("resource-link", "list", "-s", sid, "--version", "1")
    assert body["id"] in res.stdout and store_id in res.stdout and "kv-store" in res.stdout


def test_describe_and_get_alias(cli, sid, store_id):
    body = link(cli, sid, store_id)
    res = cli("service", "resource-link", "get", "-s", sid, "--version", "1", "--id", body["id"], "--json")
    assert res.exit_code == 0, res
    assert res.json() == body
    res = cli("resource-link", "describe", "-s", sid, "--version", "1", "--id", body["id"])
    assert res.exit_code == 0 and body["id"] in res.stdout and "Resource Type" in res.stdout
    res = cli("resource-link", "describe", "-s", sid, "--version", "1", "--id", "missing")
    assert res.exit_code == 3 and "missing" in res.stderr


def test_update_renames(cli, sid, store_id):
    body = link(cli, sid, store_id)
    res = cli("resource-link", "update", "-s", sid, "--version", "1", "--id", body["id"], "-n", "renamed")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Updated service resource link {body['id']} on service {sid} version 1" in res.stderr
    got = cli("resource-link", "get", "-s", sid, "--version", "1", "--id", body["id"], "--json").json()
    assert got["name"] == "renamed"


def test_update_requires_name(cli, sid, store_id):
    body = link(cli, sid, store_id)
    res = cli("resource-link", "update", "-s", sid, "--version", "1", "--id", body["id"])
    assert res.exit_code == 2 and "--name" in res.stderr


def test_delete_json_shape_and_remove_alias(cli, sid, store_id):
    a = link(cli, sid, store_id, "-n", "a")
    b = link(cli, sid, store_id, "-n", "b")
    res = cli("resource-link", "delete", "-s", sid, "--version", "1", "--id", a["id"], "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"id": a["id"], "service_id": sid, "service_version": 1, "deleted": True}
    res = cli("service", "resource-link", "remove", "-s", sid, "--version", "1", "--id", b["id"])
    assert res.exit_code == 0, res
    assert f"SUCCESS: Deleted service resource link {b['id']} from service {sid} version 1" in res.stderr
    assert cli("resource-link", "list", "-s", sid, "--version", "1", "--json").json() == []
    res = cli("resource-link", "delete", "-s", sid, "--version", "1", "--id", a["id"])
    assert res.exit_code == 3, res


def test_linked_store_cannot_be_deleted_until_unlinked(cli, sid, store_id):
    body = link(cli, sid, store_id)
    res = cli("kv-store", "delete", "--store-id", store_id)
    assert res.exit_code == 4, res
    assert sid in res.stderr and body["id"] in res.stderr and "resource-link delete" in res.stderr
    cli("resource-link", "delete", "-s", sid, "--version", "1", "--id", body["id"])
    assert cli("kv-store", "delete", "--store-id", store_id).exit_code == 0


def test_help_lists_commands_and_hides_aliases(cli):
    for path in (["resource-link"], ["service", "resource-link"]):
        res = cli(*path, "--help")
        assert res.exit_code == 0, res
        rows = [line.split() for line in res.stdout.splitlines() if line.startswith("│ ")]
        commands = {row[1] for row in rows if len(row) > 1}
        assert {"create", "list", "describe", "update", "delete"} <= commands
        assert not commands & {"link", "get", "remove"}
    res = cli("resource-link", "create", "--help")
    assert "Example:" in res.stdout and "--autoclone" in res.stdout
