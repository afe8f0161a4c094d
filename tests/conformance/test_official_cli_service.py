"""The official Fastly CLI's `service update`, `service version update` and `service search` against local serve.

The binary, the served backend and the CLI runner are the resource-link conformance module's fixtures (its own
`kvcli local serve` subprocess per module); without the binary these tests are skipped, unless
KVCLI_REQUIRE_CONFORMANCE=1 makes that a failure. Services are seeded through the engine on the served database and
results are checked both in the CLI's output and in the engine.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conformance import test_official_cli_resource_link as rl

# the resource-link module's fixtures, shared: the binary, the served backend, the CLI's HOME, the engine, the runner
fastly_bin, backend, home, eng, fastly = rl.fastly_bin, rl.backend, rl.home, rl.eng, rl.fastly
as_json = rl.as_json

pytestmark = pytest.mark.conformance


@pytest.fixture
def svc(eng):
    return eng.create_service(f"conf-svc-{uuid.uuid4().hex[:10]}", comment="before")


def test_service_update_renames_and_comments(fastly, eng, svc):
    new_name = f"{svc.name}-renamed"
    proc = fastly("service", "update", "-s", svc.id, "--name", new_name, "--comment", "after")
    assert proc.returncode == 0, proc.stderr
    assert f"Updated service {svc.id}" in proc.stdout + proc.stderr
    got = eng.get_service(svc.id)
    assert (got.name, got.comment) == (new_name, "after")
    proc = fastly("service", "update", "--service-name", new_name, "--comment", "")
    assert proc.returncode == 0, proc.stderr
    assert eng.get_service(svc.id).comment == ""


def test_service_version_update_comment_and_autoclone(fastly, eng, svc):
    proc = fastly("service", "version", "update", "-s", svc.id, "--version", "latest", "--comment", "first")
    assert proc.returncode == 0, proc.stderr
    assert f"Updated service {svc.id} version 1" in proc.stdout + proc.stderr
    assert eng.get_version(svc.id, 1).comment == "first"
    eng.activate_version(svc.id, 1)
    refused = fastly("service", "version", "update", "-s", svc.id, "--version", "active", "--comment", "x")
    assert refused.returncode == 1
    assert "422" in refused.stderr and "Version locked" in refused.stderr
    proc = fastly("service", "version", "update", "-s", svc.id, "--version", "active", "--comment", "second",
                  "--autoclone")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"Updated service {svc.id} version 2" in proc.stdout + proc.stderr
    assert [(v.number, v.comment) for v in eng.list_versions(svc.id)] == [(1, "first"), (2, "second")]


def test_search_and_describe_report_no_active_version_for_a_new_service(fastly, eng, svc):
    found = as_json(fastly("service", "search", "--name", svc.name, "--json"))
    assert found["ServiceID"] == svc.id and found["ActiveVersion"] is None
    described = as_json(fastly("service", "describe", "-s", svc.id, "--json"))
    assert described["ActiveVersion"] is None and described["Version"]["Number"] == 1
    eng.activate_version(svc.id, 1)
    described = as_json(fastly("service", "describe", "-s", svc.id, "--json"))
    assert described["ActiveVersion"]["Number"] == 1 and described["ActiveVersion"]["Active"] is True
