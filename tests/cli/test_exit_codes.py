"""Every command against the README's exit-code table: one row per (command, kind of failure).

The hostile-input table (tests/security/test_hostile_input.py) covers entries and bulk input in depth; this one
walks every command group, so a command that answers the same kind of failure with another code stands out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

USAGE, CONFIG, NOT_FOUND, CONFLICT = 2, 1, 3, 4


@pytest.fixture
def world(cli, store_id):
    assert cli("-q", "kv-store-entry", "create", "-s", store_id, "-k", "present", "--value", "v").exit_code == 0
    svc = cli("-q", "service", "create", "--name", "svc", "--json").json()
    service = svc.get("id") or svc.get("ID")
    assert cli("-q", "resource-link", "create", "--service-id", service, "--version", "1", "-r", store_id,
               "-n", "link1").exit_code == 0  # fmt: skip
    assert cli("-q", "service", "version", "clone", "--service-id", service, "--version", "1").exit_code == 0
    assert cli("-q", "service", "version", "lock", "--service-id", service, "--version", "1").exit_code == 0
    assert cli("-q", "profile", "create", "dev", "--local").exit_code == 0
    assert cli("-q", "-i", "profile", "create", "notoken").exit_code == 0
    return {"store": store_id, "service": service}


ROWS = [
    # --- 2: usage error or invalid input
    ("unknown-command", ["kv-stor", "list"], USAGE),
    ("unknown-flag", ["profile", "list", "--bogus"], USAGE),
    ("bad-flag-combination", ["kv-store-entry", "get", "-s", "{store}", "--store-name", "test-store", "-k", "a"],
     USAGE),
    ("no-terminal-to-confirm", ["service", "delete", "--service-id", "{service}"], USAGE),
    ("invalid-key", ["kv-store-entry", "create", "-s", "{store}", "-k", "..", "--value", "v"], USAGE),
    ("invalid-store-name", ["kv-store", "create", "--name", ""], USAGE),
    ("invalid-location", ["kv-store", "create", "--name", "x", "--location", "mars"], USAGE),
    ("invalid-service-type", ["service", "create", "--name", "x", "--type", "bogus"], USAGE),
    ("invalid-profile-name", ["profile", "create", " x", "--local"], USAGE),
    ("invalid-endpoint", ["profile", "create", "p", "--token", "t", "--endpoint", "ftp://x"], USAGE),
    ("duplicate-store-name", ["kv-store", "create", "--name", "test-store"], USAGE),
    ("duplicate-profile-name", ["profile", "create", "dev", "--local"], USAGE),
    ("duplicate-fastly-profile-name", ["profile", "create", "dev", "--token", "t"], USAGE),
    ("profile-update-nothing", ["profile", "update", "dev"], USAGE),
    ("profile-update-wrong-kind", ["profile", "update", "dev", "--token", "t"], USAGE),
    ("profile-token-of-local", ["profile", "token", "dev"], USAGE),
    ("bad-port", ["local", "serve", "--port", "99999"], USAGE),
    ("bad-ttl", ["kv-store-entry", "create", "-s", "{store}", "-k", "a", "--value", "v", "--ttl", "abc"], USAGE),
    ("link-without-store", ["resource-link", "create", "--service-id", "{service}", "--version", "2", "-n", "x"],
     USAGE),
    # --- 3: not found
    ("store-missing", ["kv-store", "describe", "-s", "nosuchstore"], NOT_FOUND),
    ("store-name-missing", ["kv-store", "delete", "--store-name", "nosuch", "-y"], NOT_FOUND),
    ("key-missing-get", ["kv-store-entry", "get", "-s", "{store}", "-k", "absent"], NOT_FOUND),
    ("key-missing-describe", ["kv-store-entry", "describe", "-s", "{store}", "-k", "absent"], NOT_FOUND),
    ("key-missing-delete", ["kv-store-entry", "delete", "-s", "{store}", "-k", "absent"], NOT_FOUND),
    ("service-missing", ["service", "describe", "--service-id", "nosuch"], NOT_FOUND),
    ("service-name-missing", ["service", "describe", "--service-name", "nosuch"], NOT_FOUND),
    ("version-missing", ["service", "version", "activate", "--service-id", "{service}", "--version", "9"], NOT_FOUND),
    ("version-missing-links", ["resource-link", "list", "--service-id", "{service}", "--version", "9"], NOT_FOUND),
    ("link-store-missing", ["resource-link", "create", "--service-id", "{service}", "--version", "2", "-r", "nosuch",
                            "-n", "x"], NOT_FOUND),  # fmt: skip
    ("link-missing", ["resource-link", "describe", "--service-id", "{service}", "--version", "2", "--id", "nosuch"],
     NOT_FOUND),
    # --- 4: conflict or precondition failed
    ("store-not-empty", ["kv-store", "delete", "-s", "{store}", "-y"], CONFLICT),
    ("key-exists-add", ["kv-store-entry", "create", "-s", "{store}", "-k", "present", "--value", "v", "--add"],
     CONFLICT),
    ("generation-mismatch", ["kv-store-entry", "get", "-s", "{store}", "-k", "present", "--if-generation-match", "1"],
     CONFLICT),
    ("locked-version", ["resource-link", "create", "--service-id", "{service}", "--version", "1", "-r", "{store}",
                        "-n", "x"], CONFLICT),  # fmt: skip
    ("version-not-active", ["service", "version", "deactivate", "--service-id", "{service}", "--version", "2"],
     CONFLICT),
    ("duplicate-service-name", ["service", "create", "--name", "svc"], CONFLICT),
    ("duplicate-link-name", ["resource-link", "create", "--service-id", "{service}", "--version", "2", "-r",
                             "{store}", "-n", "link1"], CONFLICT),  # fmt: skip
    # --- 1: configuration, network
    ("unknown-profile", ["--profile", "ghost", "kv-store", "list"], CONFIG),
    ("unknown-profile-switch", ["profile", "switch", "ghost"], CONFIG),
    ("unknown-profile-delete", ["profile", "delete", "ghost"], CONFIG),
    ("profile-without-token", ["profile", "token", "notoken"], CONFIG),
    ("network", ["--endpoint", "http://127.0.0.1:9", "--token", "t", "kv-store", "list"], CONFIG),
]


@pytest.mark.parametrize(("name", "argv", "code"), ROWS, ids=[r[0] for r in ROWS])
def test_every_command_answers_each_kind_of_failure_with_the_documented_code(cli, world, name, argv, code):
    res = cli(*[a.format(**world) for a in argv], env={"KVCLI_HTTP_MAX_ATTEMPTS": "1"})
    assert res.exit_code == code, res
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res


def test_the_table_uses_only_documented_codes_and_covers_the_readme_rows():
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", README.read_text(), re.M)}
    used = {code for _, _, code in ROWS}
    assert used <= documented
    assert {1, 2, 3, 4} <= used
