"""A reader that goes away (``kvcli … | head -1``) ends every command that writes to stdout quietly with exit 141.

141 is what a shell reports for coreutils or git killed by SIGPIPE in the same place, and no other kvcli outcome uses
it, so ``set -o pipefail`` scripts can tell "the reader stopped early" from a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import subprocess_env

CLOSED_PIPE = 141


@pytest.fixture
def data(cli, store_id):
    for key in ("a", "b", "c"):
        assert cli("-q", "kv-store-entry", "create", "-s", store_id, "-k", key, "--value", "v").exit_code == 0
    svc = cli("-q", "service", "create", "--name", "svc", "--json").json()
    sid = svc.get("id") or svc.get("ID") or svc.get("service_id")
    assert sid, svc
    assert cli("-q", "resource-link", "create", "--service-id", sid, "--version", "1", "--resource-id", store_id,
               "--name", "link").exit_code == 0  # fmt: skip
    assert cli("-q", "profile", "create", "dev", "--local").exit_code == 0
    return {"store": store_id, "service": sid}


# every command that prints data on stdout; {store} and {service} are filled in
WRITERS = [
    ["--version"],
    ["--help"],
    ["kv-store-entry", "list", "--help"],
    ["kv-store", "list"],
    ["kv-store", "list", "--json"],
    ["kv-store", "describe", "-s", "{store}"],
    ["kv-store", "create", "--name", "another", "--json"],
    ["kv-store-entry", "list", "-s", "{store}"],
    ["kv-store-entry", "list", "-s", "{store}", "--format", "ndjson"],
    ["kv-store-entry", "list", "-s", "{store}", "--json"],
    ["kv-store-entry", "get", "-s", "{store}", "-k", "a"],
    ["-y", "kv-store-entry", "get", "-s", "{store}", "-k", "a"],
    ["kv-store-entry", "get", "-s", "{store}", "-k", "a", "--json"],
    ["kv-store-entry", "describe", "-s", "{store}", "-k", "a"],
    ["kv-store-entry", "export", "-s", "{store}"],
    ["kv-store-entry", "delete", "-s", "{store}", "--all", "--dry-run"],
    ["profile", "list"],
    ["profile", "list", "--json"],
    ["service", "list"],
    ["service", "describe", "--service-id", "{service}"],
    ["resource-link", "list", "--service-id", "{service}", "--version", "1"],
    ["local", "info"],
]


def run_into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess:
    """Run kvcli with stdout a pipe whose reader has already gone: its first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "kvcli", "-q", *args], stdout=write_end, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=subprocess_env())  # fmt: skip
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: " ".join(a))
def test_a_closed_pipe_ends_the_command_quietly_with_141(data, argv):
    args = [a.format(**data) for a in argv]
    proc = run_into_closed_pipe(args)
    assert (proc.returncode, proc.stderr) == (CLOSED_PIPE, b""), proc.stderr


def test_a_reader_that_stops_midway_gets_141_and_no_message(cli, store_id, engine):
    """`kv-store-entry list | head -1` on a listing far larger than a pipe's buffer."""
    from kvcli.api.models import BatchEntry

    engine.put_batch(store_id, [BatchEntry(f"key-{i:06d}", b"v") for i in range(20000)])  # ~220 kB of keys
    proc = subprocess.Popen([sys.executable, "-m", "kvcli", "kv-store-entry", "list", "-s", store_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())  # fmt: skip
    first = proc.stdout.readline()
    proc.stdout.close()  # as head -1 does
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert first == b"key-000000\n"
    assert (proc.wait(), stderr) == (CLOSED_PIPE, b"")
