"""`kvcli kv-store …` on the embedded backend: outputs, JSON shapes, --store-name, prompts and exit codes."""

from __future__ import annotations

import json
import re

import pytest

from kvcli.local.engine import Engine

STORE_KEYS = ["CreatedAt", "Name", "StoreID", "UpdatedAt", "Location"]  # the official four first, in Go's order
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
STORE_ID = re.compile(r"^[a-z0-9]{22}$")


@pytest.fixture
def eng(isolated):
    e = Engine.in_dir(isolated["data"])
    yield e
    e.close()


def _one_line_error(res, code: int, *needles: str) -> str:
    assert res.exit_code == code, res
    assert res.stdout == "", res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], res
    return lines[0]


def _check_store_json(obj: dict, name: str, location: str | None = None) -> None:
    assert list(obj) == STORE_KEYS
    assert obj["Name"] == name and obj["Location"] == location
    assert STORE_ID.match(obj["StoreID"])
    assert RFC3339.match(obj["CreatedAt"]) and RFC3339.match(obj["UpdatedAt"])


# ------------------------------------------------------------------------------------------------------ create
def test_create_text(cli, isolated):
    res = cli("kv-store", "create", "--name", "demo")
    assert res.exit_code == 0, res
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[0] == f"Using embedded backend at {isolated['data']} (via default: nothing configured)"
    m = re.fullmatch(r"SUCCESS: Created KV Store 'demo' \(([a-z0-9]{22})\)", lines[1])
    assert m, res
    assert len(lines) == 2


def test_create_json_shape(cli):
    res = cli("kv-store", "create", "-n", "eu", "-l", "EU", "-j")
    assert res.exit_code == 0, res
    obj = res.json()
    _check_store_json(obj, "eu", "EU")
    assert obj["CreatedAt"] == obj["UpdatedAt"]
    assert res.stdout == json.dumps(obj, indent=2, ensure_ascii=False) + "\n"  # 2-space indent, one trailing newline


@pytest.mark.parametrize("location", ["US", "EU", "ASIA", "AUS"])
def test_create_every_location(cli, location):
    res = cli("kv-store", "create", "--name", f"s-{location}", "--location", location, "--json", "-q")
    assert res.exit_code == 0 and res.stderr == "", res
    assert res.json()["Location"] == location


def test_create_with_quiet_json_prints_only_json(cli):
    res = cli("-q", "kv-store", "create", "--name", "quiet", "--json")
    assert res.exit_code == 0 and res.stderr == "", res
    _check_store_json(res.json(), "quiet")


def test_create_quiet_text_prints_nothing(cli):
    res = cli("kv-store", "create", "--name", "quiet", "-q")
    assert (res.exit_code, res.stdout, res.stderr) == (0, "", "")


def test_create_duplicate_name_is_invalid_input(cli):
    assert cli("kv-store", "create", "--name", "dup").exit_code == 0
    res = cli("kv-store", "create", "--name", "dup", "-q")
    _one_line_error(res, 2, "'dup'", "already exists")


@pytest.mark.parametrize("location", ["EUR", "MARS", "AU"])
def test_create_bad_location_is_a_usage_error(cli, location):
    _one_line_error(cli("kv-store", "create", "--name", "x", "-l", location), 2, "--location", location)


def test_create_without_name_is_a_usage_error(cli):
    _one_line_error(cli("kv-store", "create"), 2, "--name")


def test_create_empty_name_is_invalid(cli):
    _one_line_error(cli("kv-store", "create", "--name", "", "-q"), 2, "name")


# -------------------------------------------------------------------------------------------------------- list
def test_list_empty(cli):
    res = cli("kv-store", "list")
    assert res.exit_code == 0 and res.stdout == "", res
    assert "No KV stores" in res.stderr
    res = cli("kv-store", "list", "--json")
    assert res.exit_code == 0 and res.stderr == "", res
    assert res.json() == {"Data": [], "Meta": {"limit": "1000", "total": "0"}}


def test_list_json_shape_has_every_store_across_pages(cli, eng, monkeypatch):
    from kvcli.local import engine_stores as engine_mod

    names = ["c", "a", "e", "b", "d"]
    for n in names:
        eng.create_store(n)
    calls: list[str | None] = []
    real = Engine.list_stores

    def spy(self, cursor=None, limit=None):
        calls.append(cursor)
        return real(self, cursor=cursor, limit=limit)

    monkeypatch.setattr(engine_mod, "DEFAULT_LIST_LIMIT", 2)
    monkeypatch.setattr(Engine, "list_stores", spy)
    res = cli("kv-store", "list", "--json")
    assert res.exit_code == 0 and res.stderr == "", res
    obj = res.json()
    assert list(obj) == ["Data", "Meta"]
    assert [s["Name"] for s in obj["Data"]] == sorted(names)
    for s in obj["Data"]:
        _check_store_json(s, s["Name"])
    assert all(isinstance(v, str) for v in obj["Meta"].values())  # the official Meta is map[string]string
    assert obj["Meta"]["total"] == "5"
    assert len(calls) == 3 and calls[0] is None and all(calls[1:])  # three pages were fetched


def test_list_table(cli, eng):
    a = eng.create_store("alpha", "EU")
    b = eng.create_store("beta")
    res = cli("kv-store", "list", "--output-format", "table", env={"COLUMNS": "200"})
    assert res.exit_code == 0 and res.stderr == "", res
    for header in ("ID", "Name", "Location", "Created (UTC)", "Last edited (UTC)"):
        assert header in res.stdout
    rows = [line for line in res.stdout.splitlines() if a.id in line or b.id in line]
    assert len(rows) == 2
    assert "alpha" in rows[0] and "EU" in rows[0]
    assert "beta" in rows[1]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", rows[0])
    assert res.stdout.count("UTC") == 2  # once per time column, in its header; never in a cell


def test_object_store_is_a_hidden_alias(cli, eng):
    eng.create_store("legacy")
    res = cli("object-store", "list", "--json")
    assert res.exit_code == 0, res
    assert [s["Name"] for s in res.json()["Data"]] == ["legacy"]
    assert "object-store" not in cli("--help").stdout


# ---------------------------------------------------------------------------------------------------- describe
@pytest.mark.parametrize("verb", ["describe", "get"])
def test_describe_by_id_and_by_name(cli, eng, verb):
    s = eng.create_store("shown", "ASIA")
    for how in (["--store-id", s.id], ["-s", s.id], ["--store-name", "shown"]):
        res = cli("kv-store", verb, *how, "--json")
        assert res.exit_code == 0 and res.stderr == "", res
        obj = res.json()
        _check_store_json(obj, "shown", "ASIA")
        assert obj["StoreID"] == s.id


def test_describe_text(cli, eng):
    s = eng.create_store("shown")
    res = cli("kv-store", "describe", "-s", s.id)
    assert res.exit_code == 0 and res.stderr == "", res
    # not a terminal: one "label<TAB>value" line per field, nothing padded
    lines = res.stdout.splitlines()
    assert all(line.count("\t") == 1 and line == line.strip() for line in lines), res.stdout
    fields = dict(line.split("\t") for line in lines)
    assert fields["ID"] == s.id and fields["Name"] == "shown" and fields["Location"] == "-"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", fields["Created (UTC)"])


def test_describe_unknown_id_is_not_found(cli):
    _one_line_error(cli("kv-store", "describe", "-s", "a" * 22), 3, "a" * 22)


def test_store_name_that_does_not_exist_is_not_found(cli):
    _one_line_error(cli("kv-store", "get", "--store-name", "ghost"), 3, "'ghost'")


def test_store_id_and_store_name_together_are_a_usage_error(cli, eng):
    s = eng.create_store("both")
    _one_line_error(cli("kv-store", "describe", "-s", s.id, "--store-name", "both"), 2, "--store-id", "--store-name")


@pytest.mark.parametrize("cmd", ["describe", "delete"])
def test_neither_store_id_nor_name_is_a_usage_error(cli, cmd):
    line = _one_line_error(cli("kv-store", cmd), 2)  # one line: no backend announcement before it
    assert "--store-id" in line and "--store-name" in line


# ------------------------------------------------------------------------------------------------------ delete
def test_delete_empty_store_text_and_json(cli, eng):
    a = eng.create_store("a")
    res = cli("kv-store", "delete", "--store-id", a.id)
    assert res.exit_code == 0 and res.stdout == "", res
    assert f"SUCCESS: Deleted KV Store '{a.id}'" in res.stderr
    b = eng.create_store("b")
    res = cli("kv-store", "delete", "--store-name", "b", "--json", "-q")
    assert res.exit_code == 0 and res.stderr == "", res
    assert res.stdout == '{\n  "id": "' + b.id + '",\n  "deleted": true\n}\n'
    assert eng.list_stores().items == []


def test_delete_non_empty_store_is_a_conflict_and_keeps_it(cli, eng):
    s = eng.create_store("full")
    eng.put_item(s.id, "k", b"v")
    _one_line_error(cli("kv-store", "delete", "-s", s.id, "-q"), 4, "not empty")
    assert eng.get_item(s.id, "k").value == b"v"


def test_delete_unknown_store_is_not_found(cli):
    _one_line_error(cli("kv-store", "delete", "--store-name", "ghost", "-q"), 3, "'ghost'")


def _full_store(eng, n: int = 30):
    s = eng.create_store("full")
    for i in range(n):
        eng.put_item(s.id, f"k{i}", b"v")
    return s


def test_delete_all_without_terminal_or_yes_refuses_and_says_to_pass_y(cli, eng):
    s = _full_store(eng)
    line = _one_line_error(cli("kv-store", "delete", "-s", s.id, "--all", "-q"), 2, "-y")
    assert "terminal" in line
    assert len(eng.list_keys(s.id).items) == 30 and eng.get_store(s.id)


@pytest.mark.parametrize("flag", ["-y", "--auto-yes", "-i", "--non-interactive"])
def test_delete_all_with_yes_empties_and_deletes(cli, eng, flag):
    s = _full_store(eng)
    res = cli("kv-store", "delete", "--store-name", "full", "--all", flag)
    assert res.exit_code == 0, res
    assert res.stdout == ""
    assert "Deleted keys: 30" in res.stderr and f"Deleted KV Store 'full' ({s.id})" in res.stderr
    assert eng.list_stores().items == []


def test_delete_all_json_is_only_json(cli, eng):
    s = _full_store(eng)
    res = cli("-y", "kv-store", "delete", "-s", s.id, "-a", "--json", "-r", "4", "-m", "3")
    assert res.exit_code == 0, res
    assert res.json() == {"id": s.id, "deleted": True, "links_checked": True}
    s2 = eng.create_store("again")
    eng.put_item(s2.id, "k", b"v")
    res = cli("kv-store", "delete", "-s", s2.id, "-a", "--json", "-q", "-y")
    assert res.exit_code == 0 and res.stderr == "", res
    assert res.json() == {"id": s2.id, "deleted": True, "links_checked": True}


def test_delete_all_asks_at_a_terminal(cli, eng, monkeypatch):
    import kvcli.cli.state as state

    monkeypatch.setattr(state, "stdin_is_tty", lambda: True)
    s = _full_store(eng, 3)
    res = cli("kv-store", "delete", "-s", s.id, "--all", input="n\n")
    assert res.exit_code == 0, res
    assert "Are you sure you want to continue? [y/N]" in res.stderr
    assert len(eng.list_keys(s.id).items) == 3  # "no" deletes nothing and is not an error
    res = cli("kv-store", "delete", "-s", s.id, "--all", input="")  # EOF counts as no
    assert res.exit_code == 0 and len(eng.list_keys(s.id).items) == 3
    res = cli("kv-store", "delete", "-s", s.id, "--all", input="yes\n")
    assert res.exit_code == 0, res
    assert eng.list_stores().items == []


def test_delete_all_of_an_unknown_store_fails_before_asking(cli):
    # exit 3, not the exit 2 of "no terminal to ask": the store is looked up before the prompt
    _one_line_error(cli("kv-store", "delete", "--store-id", "z" * 22, "--all", "-q"), 3)


@pytest.mark.parametrize("flags", [["-r", "0"], ["--max-errors", "0"], ["--concurrency", "-2"]])
def test_delete_all_limits_are_checked(cli, eng, flags):
    s = _full_store(eng, 1)
    _one_line_error(cli("kv-store", "delete", "-s", s.id, "--all", "-y", "-q", *flags), 2)
    assert eng.list_keys(s.id).items == ["k0"]


def test_delete_all_with_failures_keeps_the_store_and_exits_7(cli, eng, monkeypatch):
    from kvcli.api.errors import ServerError

    s = _full_store(eng, 4)

    def failing(self, store_id, keys):
        raise ServerError("disk on fire")

    monkeypatch.setattr(Engine, "delete_many", failing)
    res = cli("kv-store", "delete", "-s", s.id, "--all", "-y", "--json")
    assert res.exit_code == 7, res
    obj = res.json()  # still valid JSON on stdout
    assert obj["id"] == s.id and obj["deleted"] is False
    assert "Error:" in res.stderr and "not deleted" in res.stderr
    assert len(eng.list_keys(s.id).items) == 4 and eng.get_store(s.id)


# ---------------------------------------------------------------------------------------------------- misc
def test_a_corrupt_config_is_exit_1(cli, isolated):
    isolated["config"].mkdir(parents=True)
    (isolated["config"] / "config.toml").write_text("[[[")
    _one_line_error(cli("kv-store", "list"), 1, "config.toml", "line 1")


@pytest.mark.parametrize("cmd", ["create", "list", "describe", "get", "delete"])
def test_every_command_has_help_with_an_example(cli, cmd):
    res = cli("kv-store", cmd, "--help")
    assert res.exit_code == 0, res
    assert "Example:" in res.stdout
    if cmd in ("describe", "get", "delete"):
        assert "--store-name" in res.stdout and "--store-id" in res.stdout
