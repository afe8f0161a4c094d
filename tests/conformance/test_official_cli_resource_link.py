"""The official Fastly CLI's `service resource-link` commands against `kvcli local serve`.

The binary is found as for the other conformance tests (``official_cli_path`` in conftest.py: $KVCLI_FASTLY_BIN, else
the npm package under .tools/); without it these tests are skipped, unless KVCLI_REQUIRE_CONFORMANCE=1 makes that a
failure. Services and stores are seeded
straight into the served SQLite file through the engine (the server shares it), and results are checked both in the
CLI's output and in the engine.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from kvcli.local.engine import Engine
from tests.conformance.conftest import official_cli_path, official_env, require_or_skip
from tests.contract.conftest import ServedBackend

pytestmark = pytest.mark.conformance

TOKEN = "conformance-token"
LINK_KEYS = [
    "created_at", "deleted_at", "href", "id", "name", "resource_id", "resource_type", "service_id", "version",
    "updated_at",
]  # fmt: skip


@pytest.fixture(scope="module")
def fastly_bin() -> Path:
    path = official_cli_path()
    if path is None:
        require_or_skip("the official Fastly CLI binary (set KVCLI_FASTLY_BIN)")
    return path


@pytest.fixture(scope="module")
def backend(tmp_path_factory, fastly_bin):
    pytest.importorskip("kvcli.local.server", reason="kvcli local serve is not built yet")
    served = ServedBackend(tmp_path_factory.mktemp("rl-served"), token=TOKEN)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fastly-home")


@pytest.fixture
def eng(backend):
    e = Engine.in_dir(backend.data_dir)
    yield e
    e.close()


@pytest.fixture
def fastly(fastly_bin, backend, home):
    """Run the official CLI (always with -q); returns the CompletedProcess (text)."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        full_env = official_env(home, backend.url, TOKEN)
        full_env.update(env or {})
        return subprocess.run(
            [str(fastly_bin), "-q", *args], env=full_env, capture_output=True, text=True, timeout=60, check=False
        )

    return run


@pytest.fixture
def seeded(eng):
    """A fresh service (editable version 1) and store, uniquely named."""
    tag = uuid.uuid4().hex[:10]
    svc = eng.create_service(f"conf-{tag}")
    store = eng.create_store(f"conf-store-{tag}")
    return svc, store


def as_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def test_create_on_latest_json_shape_and_engine_state(fastly, eng, seeded):
    svc, store = seeded
    body = as_json(
        fastly("service", "resource-link", "create", "-s", svc.id, "--version", "latest", "-r", store.id,
               "-n", "edge_name", "--json")
    )  # fmt: skip
    assert list(body) == LINK_KEYS
    assert body["name"] == "edge_name" and body["resource_id"] == store.id and body["resource_type"] == "kv-store"
    assert body["service_id"] == svc.id and body["version"] == 1 and body["href"] is None
    link = eng.get_link(svc.id, 1, body["id"])
    assert link.name == "edge_name" and link.resource_id == store.id


def test_create_without_name_uses_the_store_name(fastly, eng, seeded):
    svc, store = seeded
    proc = fastly("service", "resource-link", "create", "-s", svc.id, "--version", "1", "-r", store.id)
    assert proc.returncode == 0, proc.stderr
    assert f'Created service resource link "{store.name}"' in proc.stdout + proc.stderr
    assert [x.name for x in eng.list_links(svc.id, 1)] == [store.name]


def test_list_and_describe_by_number(fastly, eng, seeded):
    svc, store = seeded
    assert as_json(fastly("service", "resource-link", "list", "-s", svc.id, "--version", "1", "--json")) == []
    link = eng.create_link(svc.id, 1, store.id, "a")
    listed = as_json(fastly("service", "resource-link", "list", "-s", svc.id, "--version", "1", "--json"))
    assert [x["id"] for x in listed] == [link.id]
    text = fastly("service", "resource-link", "list", "-s", svc.id, "--version", "1")
    assert f"ID: {link.id}" in text.stdout and "Resource Type: kv-store" in text.stdout
    got = as_json(fastly("service", "resource-link", "describe", "-s", svc.id, "--version", "1", "--id", link.id,
                         "--json"))  # fmt: skip
    assert got == listed[0]
    missing = fastly("service", "resource-link", "get", "-s", svc.id, "--version", "1", "--id", "nope", "--json")
    assert missing.returncode == 1
    assert "404 Not Found: Record not found" in missing.stderr


def test_version_active_uses_the_active_version(fastly, eng, seeded):
    svc, store = seeded
    link = eng.create_link(svc.id, 1, store.id, "live")
    eng.clone_version(svc.id, 1)
    eng.activate_version(svc.id, 1)
    listed = as_json(fastly("service", "resource-link", "list", "-s", svc.id, "--version", "active", "--json"))
    assert [(x["id"], x["version"]) for x in listed] == [(link.id, 1)]


def test_version_active_without_one_falls_back_to_latest_in_the_official_cli(fastly, eng, seeded):
    """Recorded difference: kvcli refuses `--version active` when nothing is active; the official CLI uses latest."""
    svc, store = seeded
    eng.clone_version(svc.id, 1)
    link = eng.create_link(svc.id, 2, store.id, "draft")
    listed = as_json(fastly("service", "resource-link", "list", "-s", svc.id, "--version", "active", "--json"))
    assert [(x["id"], x["version"]) for x in listed] == [(link.id, 2)]


def test_staged_is_not_found(fastly, seeded):
    svc, _ = seeded
    proc = fastly("service", "resource-link", "list", "-s", svc.id, "--version", "staged")
    assert proc.returncode == 1 and "no staged service version found" in proc.stderr


def test_editing_the_active_version_without_autoclone_fails_and_clones_nothing(fastly, eng, seeded):
    svc, store = seeded
    link = eng.create_link(svc.id, 1, store.id, "pinned")
    eng.activate_version(svc.id, 1)
    proc = fastly("service", "resource-link", "update", "-s", svc.id, "--version", "active", "--id", link.id,
                  "-n", "x")  # fmt: skip
    assert proc.returncode == 1
    assert "service version 1 is locked" in proc.stderr and "--autoclone" in proc.stderr
    assert [v.number for v in eng.list_versions(svc.id)] == [1]


def test_update_with_autoclone_keeps_the_link_id(fastly, eng, seeded):
    svc, store = seeded
    link = eng.create_link(svc.id, 1, store.id, "before")
    eng.activate_version(svc.id, 1)
    body = as_json(
        fastly("service", "resource-link", "update", "-s", svc.id, "--version", "active", "--autoclone",
               "--id", link.id, "-n", "after", "--json")
    )  # fmt: skip
    assert body["id"] == link.id and body["version"] == 2 and body["name"] == "after"
    assert eng.get_link(svc.id, 1, link.id).name == "before"
    assert eng.get_link(svc.id, 2, link.id).name == "after"
    assert not eng.get_version(svc.id, 2).locked


def test_create_and_delete_with_autoclone_on_a_locked_version(fastly, eng, seeded):
    svc, store = seeded
    eng.lock_version(svc.id, 1)
    created = as_json(
        fastly("service", "resource-link", "link", "-s", svc.id, "--version", "1", "--autoclone", "-r", store.id,
               "--json")
    )  # fmt: skip
    assert created["version"] == 2
    eng.lock_version(svc.id, 2)
    deleted = as_json(
        fastly("service", "resource-link", "delete", "-s", svc.id, "--version", "latest", "--autoclone",
               "--id", created["id"], "--json")
    )  # fmt: skip
    assert deleted == {"id": created["id"], "service_id": svc.id, "service_version": 3, "deleted": True}
    assert [x.id for x in eng.list_links(svc.id, 2)] == [created["id"]]
    assert eng.list_links(svc.id, 3) == []


def test_delete_text_and_remove_alias(fastly, eng, seeded):
    svc, store = seeded
    a = eng.create_link(svc.id, 1, store.id, "a")
    b = eng.create_link(svc.id, 1, store.id, "b")
    proc = fastly("service", "resource-link", "delete", "-s", svc.id, "--version", "1", "--id", a.id)
    assert proc.returncode == 0, proc.stderr
    assert f"Deleted service resource link {a.id} from service {svc.id} version 1" in proc.stdout + proc.stderr
    proc = fastly("service", "resource-link", "remove", "-s", svc.id, "--version", "1", "--id", b.id)
    assert proc.returncode == 0, proc.stderr
    assert eng.list_links(svc.id, 1) == []
    again = fastly("service", "resource-link", "delete", "-s", svc.id, "--version", "1", "--id", b.id)
    assert again.returncode == 1 and "Record not found" in again.stderr


def test_errors_duplicate_name_and_unknown_store(fastly, eng, seeded):
    svc, store = seeded
    eng.create_link(svc.id, 1, store.id, "dup")
    dup = fastly("service", "resource-link", "create", "-s", svc.id, "--version", "1", "-r", store.id, "-n", "dup")
    assert dup.returncode == 1 and "409 Conflict: Duplicate record" in dup.stderr
    unknown = fastly("service", "resource-link", "create", "-s", svc.id, "--version", "1", "-r", "nosuchstore")
    assert unknown.returncode == 1 and "404 Not Found" in unknown.stderr


def test_service_from_name_and_from_env(fastly, eng, seeded):
    svc, store = seeded
    link = eng.create_link(svc.id, 1, store.id, "x")
    by_name = as_json(fastly("service", "resource-link", "list", "--service-name", svc.name, "--version", "1",
                             "--json"))  # fmt: skip
    assert [x["id"] for x in by_name] == [link.id]
    by_env = as_json(fastly("service", "resource-link", "list", "--version", "latest", "--json",
                            env={"FASTLY_SERVICE_ID": svc.id}))  # fmt: skip
    assert by_env == by_name


def test_kvcli_and_the_official_cli_print_the_same_json(fastly, eng, seeded, backend, cli):
    svc, store = seeded
    link = eng.create_link(svc.id, 1, store.id, "same")
    remote = ["--endpoint", backend.url, "-t", TOKEN]
    for args in (
        ["list", "-s", svc.id, "--version", "1", "--json"],
        ["describe", "-s", svc.id, "--version", "latest", "--id", link.id, "--json"],
    ):
        official = as_json(fastly("service", "resource-link", *args))
        ours = cli(*remote, "service", "resource-link", *args)
        assert ours.exit_code == 0, ours
        assert ours.json() == official
