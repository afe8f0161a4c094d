"""Every destructive prompt behaves the same: answering no (or end of input) changes nothing, says so in one line,
and exits 0, as README's exit-code table promises ("also after answering no at a confirmation prompt")."""

from __future__ import annotations

import pytest

CANCELLED = "Cancelled: nothing was changed."


@pytest.fixture
def terminal(monkeypatch):
    import kvcli.cli.state as state

    monkeypatch.setattr(state, "stdin_is_tty", lambda: True)


@pytest.fixture
def filled(cli, tmp_path) -> dict:
    assert cli("-q", "kv-store", "create", "--name", "s").exit_code == 0
    for key in ("a/1", "a/2", "b/1"):
        assert cli("-q", "kv-store-entry", "create", "--store-name", "s", "-k", key, "--value", "v").exit_code == 0
    assert cli("-q", "service", "create", "--name", "svc").exit_code == 0
    site = tmp_path / "site"
    site.mkdir()
    (site / "a").mkdir()
    (site / "a" / "1").write_text("v")
    return {"site": site}


def _keys(cli) -> list[str]:
    return cli("kv-store-entry", "list", "--store-name", "s").stdout.split()


@pytest.mark.parametrize("answer", ["n\n", "no\n", ""])
@pytest.mark.parametrize(
    "argv",
    [
        ["kv-store", "delete", "--store-name", "s", "--all"],
        ["kv-store-entry", "delete", "--store-name", "s", "--all"],
        ["kv-store-entry", "delete", "--store-name", "s", "--prefix", "a/"],
        ["kv-store-entry", "sync", "--store-name", "s", "--dir", "{site}", "--delete"],
        ["service", "delete", "--service-name", "svc"],
    ],
    ids=["kv-store-delete-all", "entry-delete-all", "entry-delete-prefix", "sync-delete", "service-delete"],
)
def test_answering_no_changes_nothing_says_so_and_exits_0(cli, filled, terminal, argv, answer):
    before = _keys(cli)
    services = cli("service", "list", "--json").stdout
    res = cli(*[a.format(site=filled["site"]) for a in argv], input=answer)
    assert res.exit_code == 0, res
    # (a terminal echoes the typed answer and its newline; the test's stdin does not)
    last = res.stderr.strip().splitlines()[-1]
    assert last == CANCELLED if not answer else last.endswith(CANCELLED), res.stderr
    assert _keys(cli) == before
    assert cli("service", "list", "--json").stdout == services
