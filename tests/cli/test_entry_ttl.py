"""--ttl through the CLI, with the embedded engine on a clock the test moves (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, isolated):
    import kvcli.config
    from kvcli.api.local import LocalAdapter
    from kvcli.local.engine import Engine

    clk = Clock()
    engine = Engine.in_dir(isolated["data"], clock=clk)
    monkeypatch.setattr(kvcli.config, "make_api", lambda target, **kw: LocalAdapter(engine))
    yield clk
    engine.close()


@pytest.fixture
def sid(cli, clock) -> str:
    res = cli("kv-store", "create", "--name", "ttl-store", "--json")
    assert res.exit_code == 0, res
    return res.json()["StoreID"]


def test_ttl_expiry_through_the_cli(cli, clock, sid):
    assert cli("kv-store-entry", "create", "-s", sid, "-k", "short", "--value", "v", "--ttl", "10").exit_code == 0
    assert cli("kv-store-entry", "create", "-s", sid, "-k", "long", "--value", "v").exit_code == 0
    info = cli("kv-store-entry", "describe", "-s", sid, "-k", "short", "--json").json()
    expected = datetime.fromtimestamp(clock.now + 10, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["expires_at"] == expected
    table = cli("kv-store-entry", "describe", "-s", sid, "-k", "short").stdout
    assert datetime.fromtimestamp(clock.now + 10, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") in table

    clock.now += 9
    assert cli("kv-store-entry", "get", "-s", sid, "-k", "short").stdout_bytes == b"v"
    assert cli("kv-store-entry", "list", "-s", sid).stdout == "long\nshort\n"

    clock.now += 2
    assert cli("kv-store-entry", "get", "-s", sid, "-k", "short").exit_code == 3
    assert cli("kv-store-entry", "describe", "-s", sid, "-k", "short").exit_code == 3
    assert cli("kv-store-entry", "list", "-s", sid).stdout == "long\n"
    assert cli("kv-store-entry", "delete", "-s", sid, "-k", "short").exit_code == 3
    assert cli("kv-store-entry", "delete", "-s", sid, "-k", "short", "--force").exit_code == 0
    dry = cli("kv-store-entry", "delete", "-s", sid, "--all", "--dry-run", "--json").json()
    assert dry["keys"] == ["long"]

    # an expired key no longer exists: --add may create it again
    res = cli("kv-store-entry", "create", "-s", sid, "-k", "short", "--value", "new", "--add")
    assert res.exit_code == 0, res
    assert cli("kv-store-entry", "get", "-s", sid, "-k", "short").stdout_bytes == b"new"
    assert cli("kv-store-entry", "describe", "-s", sid, "-k", "short", "--json").json()["expires_at"] is None


def test_rewriting_without_ttl_makes_the_key_permanent(cli, clock, sid):
    cli("kv-store-entry", "create", "-s", sid, "-k", "k", "--value", "a", "--ttl", "5")
    cli("kv-store-entry", "create", "-s", sid, "-k", "k", "--value", "b", "--append")
    clock.now += 3600
    assert cli("kv-store-entry", "get", "-s", sid, "-k", "k").stdout_bytes == b"ab"
