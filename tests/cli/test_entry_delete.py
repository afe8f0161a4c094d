"""`kv-store-entry delete`: one key, --prefix, --all, --dry-run, confirmation, failures and exit codes."""

from __future__ import annotations

import threading

import pytest

from kvcli.api.errors import ServerError
from kvcli.api.models import BatchEntry


def one_error_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if not line.startswith("Using ")]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res
    return errors[0]


def keys(cli, store_id: str) -> list[str]:
    res = cli("kv-store-entry", "list", "-s", store_id)
    assert res.exit_code == 0, res
    return res.stdout.splitlines()


@pytest.fixture
def filled(engine, store_id) -> str:
    """1,200 keys under a/, 300 under b/."""
    entries = [BatchEntry(key=f"a/{i:04d}", value=b"") for i in range(1200)]
    entries += [BatchEntry(key=f"b/{i:04d}", value=b"") for i in range(300)]
    assert not engine.put_batch(store_id, entries).errors
    return store_id


# ----------------------------------------------------------------------------------------------------- one key
def test_delete_one_key(cli, store_id, engine):
    engine.put_item(store_id, "a1", b"v")
    engine.put_item(store_id, "a2", b"v")
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "a1")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Deleted key 'a1' from KV Store '{store_id}'" in res.stderr
    assert res.stdout == ""
    assert keys(cli, store_id) == ["a2"]
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "a2", "--json")
    assert res.exit_code == 0, res
    assert res.json() == {"key": "a2", "store_id": store_id, "deleted": True}
    assert list(res.json()) == ["key", "store_id", "deleted"]


def test_delete_missing_key_exits_3_unless_forced(cli, store_id):
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "nope")
    assert res.exit_code == 3, res
    assert "nope" in one_error_line(res)
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "nope", "--force")
    assert res.exit_code == 0, res


def test_delete_in_missing_store_exits_3(cli):
    for args in (["-s", "nosuchstore", "-k", "k"], ["--store-name", "nosuch", "-k", "k"],
                 ["-s", "nosuchstore", "--all", "-y"], ["-s", "nosuchstore", "--prefix", "p", "--dry-run"]):
        res = cli("kv-store-entry", "delete", *args)
        assert res.exit_code == 3, (args, res)
        one_error_line(res)


def test_delete_if_generation_match(cli, store_id, engine):
    gen = engine.put_item(store_id, "g", b"v")
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "g", "--if-generation-match", str(gen + 1))
    assert res.exit_code == 4, res
    assert str(gen) in one_error_line(res)
    assert keys(cli, store_id) == ["g"]
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "g", "--if-generation-match", str(gen))
    assert res.exit_code == 0, res
    assert keys(cli, store_id) == []


def test_awkward_key(cli, store_id, engine):
    engine.put_item(store_id, "-a/b c%d", b"v")
    res = cli("kv-store-entry", "delete", "-s", store_id, "--key=-a/b c%d")
    assert res.exit_code == 0, res
    assert keys(cli, store_id) == []


# ------------------------------------------------------------------------------------------------ flag checking
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "nothing to delete"),
        (["-k", "k", "--all"], "cannot be combined"),
        (["-k", "k", "--prefix", "p"], "cannot be combined"),
        (["--prefix", "p", "--all"], "cannot be combined"),
        (["--all", "--force"], "--force only applies to --key"),
        (["--prefix", "p", "--if-generation-match", "3"], "only applies to --key"),
        (["--prefix", ""], "use --all"),
        (["-k", ""], "empty"),
        (["--all", "-r", "0"], "--concurrency"),
        (["--all", "-m", "0"], "--max-errors"),
        (["-k", "k", "--if-generation-match", "x"], "if-generation-match"),
    ],
)
def test_bad_flag_combinations_are_usage_errors(cli, filled, args, needle):
    res = cli("kv-store-entry", "delete", "-s", filled, "-y", *args)
    assert res.exit_code == 2, res
    assert needle in one_error_line(res)
    assert len(keys(cli, filled)) == 1500


# --------------------------------------------------------------------------------------------- prefix and all
def test_delete_prefix(cli, filled):
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "a/", "-y")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Deleted 1,200 keys from KV Store '{filled}'" in res.stderr
    assert keys(cli, filled) == [f"b/{i:04d}" for i in range(300)]


def test_delete_all(cli, filled):
    res = cli("kv-store-entry", "delete", "-s", filled, "--all", "-y")
    assert res.exit_code == 0, res
    assert f"SUCCESS: Deleted all keys from KV Store '{filled}'" in res.stderr
    assert keys(cli, filled) == []


def test_bulk_json_summary(cli, filled):
    res = cli("kv-store-entry", "delete", "--store-name", "test-store", "--prefix", "b/", "-y", "--json")
    assert res.exit_code == 0, res
    data = res.json()
    assert data["store_id"] == filled
    assert (data["deleted"], data["failed"], data["errors"], data["complete"]) == (300, 0, [], True)


def test_bulk_without_confirmation_refuses_when_stdin_is_not_a_terminal(cli, filled):
    res = cli("kv-store-entry", "delete", "-s", filled, "--all")
    assert res.exit_code == 2, res
    assert "-y" in one_error_line(res)
    assert len(keys(cli, filled)) == 1500


class Prompts:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.warnings: list[str] = []

    def __call__(self, warning: str) -> bool:
        self.warnings.append(warning)
        return self.answer


@pytest.fixture
def prompt(monkeypatch):
    """Pretend stdin is a terminal and record what the confirmation prompt shows."""
    import kvcli.cli.entry_delete as mod
    from kvcli.cli.state import State

    def make(answer: bool) -> Prompts:
        recorder = Prompts(answer)
        monkeypatch.setattr(mod, "_interactive", lambda state: True)
        monkeypatch.setattr(State, "confirm", lambda self, warning, question="": recorder(warning))
        return recorder

    return make


def test_the_prompt_shows_the_count(cli, filled, prompt):
    p = prompt(True)
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "b/")
    assert res.exit_code == 0, res
    assert p.warnings == [f"This will delete 300 entries with prefix 'b/' from KV Store '{filled}'!"]
    res = cli("kv-store-entry", "delete", "-s", filled, "--all")
    assert p.warnings[-1] == f"This will delete ALL 1,200 entries from KV Store '{filled}'!"
    assert keys(cli, filled) == []


def test_the_prompt_count_is_capped(cli, filled, prompt, monkeypatch):
    import kvcli.cli.entry_delete as mod

    monkeypatch.setattr(mod, "COUNT_CAP", 1000)
    p = prompt(False)
    cli("kv-store-entry", "delete", "-s", filled, "--all")
    assert "more than 1,000 entries" in p.warnings[0]


def test_answering_no_deletes_nothing_and_exits_0(cli, filled, prompt):
    prompt(False)
    res = cli("kv-store-entry", "delete", "-s", filled, "--all")
    assert res.exit_code == 0, res
    assert "Cancelled: nothing was changed." in res.stderr
    assert len(keys(cli, filled)) == 1500


def test_no_prompt_when_nothing_matches(cli, filled, prompt):
    p = prompt(False)
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "zzz")
    assert res.exit_code == 0, res
    assert p.warnings == []


# ----------------------------------------------------------------------------------------------------- dry run
def test_dry_run_lists_and_counts_without_deleting_or_asking(cli, filled):
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "b/", "--dry-run")
    assert res.exit_code == 0, res
    assert res.stdout.splitlines() == [f"b/{i:04d}" for i in range(300)]
    assert "would delete 300 keys" in res.stderr
    assert len(keys(cli, filled)) == 1500


def test_dry_run_json(cli, filled):
    res = cli("kv-store-entry", "delete", "-s", filled, "--all", "--dry-run", "--json")
    assert res.exit_code == 0, res
    data = res.json()
    assert data["dry_run"] is True and data["count"] == 1500 and data["store_id"] == filled
    assert data["keys"][0] == "a/0000" and len(data["keys"]) == 1500
    empty = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "none", "--dry-run", "--json")
    assert empty.json() == {"dry_run": True, "store_id": filled, "keys": [], "count": 0}
    assert len(keys(cli, filled)) == 1500


def test_dry_run_one_key(cli, store_id, engine):
    gen = engine.put_item(store_id, "k", b"v")
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "k", "--dry-run", "--json")
    assert res.json() == {"dry_run": True, "store_id": store_id, "count": 1, "keys": ["k"]}
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "nope", "--dry-run")
    assert res.exit_code == 3, res
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "nope", "--dry-run", "--force", "--json")
    assert res.json()["count"] == 0
    res = cli("kv-store-entry", "delete", "-s", store_id, "-k", "k", "--dry-run",
              "--if-generation-match", str(gen + 1))
    assert res.exit_code == 4, res
    assert keys(cli, store_id) == ["k"]


# -------------------------------------------------------------------------------------------- injected failures
class FailingApi:
    """The real local adapter with per-key deletes failing for chosen keys and no engine fast path."""

    def __init__(self, inner, fail) -> None:
        self.inner = inner
        self.fail = fail
        self.description = inner.description
        self.lock = threading.Lock()

    def __getattr__(self, name):
        if name == "delete_many":  # force the concurrent per-key path that the HTTP adapter uses
            raise AttributeError(name)
        return getattr(self.inner, name)

    def delete_item(self, store_id, key, *, force=False, if_generation_match=None):
        if self.fail(key):
            raise ServerError(f"injected failure for {key}", status=503)
        self.inner.delete_item(store_id, key, force=force, if_generation_match=if_generation_match)


@pytest.fixture
def failing(monkeypatch):
    import kvcli.config

    real = kvcli.config.make_api

    def install(fail):
        monkeypatch.setattr(kvcli.config, "make_api", lambda target, **kw: FailingApi(real(target, **kw), fail))

    return install


def test_partial_failure_exits_7_with_an_exact_summary(cli, filled, failing):
    failing(lambda k: k.endswith("7"))  # 30 of the b/ keys
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "b/", "-y", "--json", "-m", "1000")
    assert res.exit_code == 7, res
    data = res.json()
    assert (data["deleted"], data["failed"], data["complete"], data["stopped_early"]) == (270, 30, False, False)
    assert len(data["errors"]) == 30 and "injected failure" in data["errors"][0]["error"]
    assert "30 failed" in one_error_line(res)
    left = keys(cli, filled)
    assert len(left) == 1200 + 30


def test_max_errors_stops_and_exits_7(cli, filled, failing):
    failing(lambda k: True)
    res = cli("kv-store-entry", "delete", "-s", filled, "--all", "-y", "-m", "3", "-r", "2")
    assert res.exit_code == 7, res
    line = one_error_line(res)
    assert "--max-errors 3" in line and "0 keys deleted" in line
    assert "failed: 'a/0000'" in res.stderr  # the failures are listed
    assert len(keys(cli, filled)) == 1500


def test_text_summary_lists_failures(cli, filled, failing):
    failing(lambda k: k == "b/0042")
    res = cli("kv-store-entry", "delete", "-s", filled, "--prefix", "b/", "-y")
    assert res.exit_code == 7, res
    assert "failed: 'b/0042': injected failure for b/0042" in res.stderr
    assert "Deleted keys: 299, failed: 1" in res.stderr
    assert keys(cli, filled)[-1] == "b/0042"
