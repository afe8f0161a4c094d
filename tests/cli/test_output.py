"""The one output rule for listings and records (docs/scripting.md): tables at a terminal that never split an ID
or a name, plain tab-separated lines into a pipe, and the same --output-format choices on every listing."""

from __future__ import annotations

import json

import pytest

LONG_NAME = "my-long-application-store-name-for-production"
BOX = set("┏┓┗┛┃━│─┡┩┠┨╇┃┳┻┼")


@pytest.fixture
def world(cli, isolated):
    """Two stores (one with a long name), a service with two versions and a resource link, two profiles."""
    ids = {}
    for name in (LONG_NAME, "short"):
        res = cli("kv-store", "create", "--name", name, "--json")
        assert res.exit_code == 0, res
        ids[name] = res.json()["StoreID"]
    res = cli("service", "create", "--name", "web-application-for-the-production-site", "--json")
    assert res.exit_code == 0, res
    sid = res.json()["id"]
    assert cli("-q", "service", "version", "clone", "-s", sid, "--version", "1").exit_code == 0
    res = cli("resource-link", "create", "-s", sid, "--version", "latest", "-r", ids[LONG_NAME], "--json")
    assert res.exit_code == 0, res
    link = res.json()
    for name in ("dev", "staging-environment-profile"):
        # the first becomes the default: it points at the same data dir, so the other commands see the same stores
        assert cli("-q", "profile", "create", name, "--local", "--data-dir", str(isolated["data"])).exit_code == 0
    return {"stores": ids, "service": sid, "link": link["id"]}


def listings(world) -> dict[str, tuple[list[str], list[str]]]:
    """command -> (args, the IDs and names each of which must appear whole on one line)."""
    sid, stores = world["service"], world["stores"]
    return {
        "kv-store list": (["kv-store", "list"], [*stores.values(), LONG_NAME]),
        "service list": (["service", "list"], [sid, "web-application-for-the-production-site"]),
        "service version list": (["service", "version", "list", "-s", sid], [sid]),
        "resource-link list": (["resource-link", "list", "-s", sid, "--version", "latest"],
                               [world["link"], stores[LONG_NAME]]),  # fmt: skip
        "profile list": (["profile", "list"], ["staging-environment-profile", "dev"]),
    }


def records(world) -> dict[str, tuple[list[str], list[str]]]:
    sid, stores = world["service"], world["stores"]
    return {
        "kv-store describe": (["kv-store", "describe", "-s", stores[LONG_NAME]], [stores[LONG_NAME], LONG_NAME]),
        "service describe": (["service", "describe", "-s", sid], [sid]),
        "resource-link describe": (["resource-link", "describe", "-s", sid, "--version", "latest", "--id",
                                    world["link"]], [world["link"], stores[LONG_NAME]]),  # fmt: skip
    }


@pytest.mark.parametrize("width", [60, 80, 200])
@pytest.mark.parametrize("which", ["kv-store list", "service list", "service version list", "resource-link list",
                                   "profile list"])  # fmt: skip
def test_tables_never_split_an_id_or_a_name(cli, world, width, which):
    args, whole = listings(world)[which]
    res = cli(*args, "--output-format", "table", env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res
    lines = res.stdout.splitlines()
    if any(set(line) == {"─"} for line in lines):  # a table (header rule) fits the width
        assert all(len(line.rstrip()) <= width for line in lines), res.stdout
    else:  # too narrow for one: key/value records, a value longer than the terminal is left whole to the terminal
        assert all(len(line) <= width or line.startswith(("Name ", "Endpoint")) for line in lines), res.stdout
    for text in whole:
        assert any(text in line for line in lines), f"{text!r} split at {width} columns:\n{res.stdout}"
    # UTC is said in the headers (or labels) only, never in a cell
    assert all(line.count("UTC") == line.count("(UTC)") for line in lines), res.stdout


@pytest.mark.parametrize("width", [60, 80, 200])
def test_records_never_split_an_id(cli, world, monkeypatch, width):
    import kvcli.cli.state as state

    monkeypatch.setattr(state, "stdout_is_tty", lambda: True)  # a record at a terminal: the aligned panel
    for args, whole in records(world).values():
        res = cli(*args, env={"COLUMNS": str(width), "NO_COLOR": "1"})
        assert res.exit_code == 0, res
        lines = res.stdout.splitlines()
        for text in whole:
            assert any(text in line for line in lines), res.stdout
        fields = lines[: next((n for n, line in enumerate(lines) if "Versions" in line), len(lines))]
        assert all(line == line.rstrip() for line in fields), res.stdout  # the panel pads no line
        # no header cut as "(UT" / "C)" (a random ID may hold the letters UT: only the parenthesis counts)
        assert all("(UT" not in line or "(UTC)" in line for line in lines), res.stdout
        assert not any(line.lstrip().startswith("C)") for line in lines), res.stdout


def test_kv_store_list_at_80_columns_keeps_ids_and_names_on_one_line(cli, world):
    res = cli("kv-store", "list", "--output-format", "table", env={"COLUMNS": "80"})
    # the long name does not fit a table row at 80 columns: one key/value record per store instead
    assert f"Name               {LONG_NAME}" in res.stdout
    for sid in world["stores"].values():
        assert f"ID                 {sid}" in res.stdout


@pytest.mark.parametrize("which", ["kv-store list", "service list", "service version list", "resource-link list",
                                   "profile list"])  # fmt: skip
def test_piped_listings_are_plain_tab_separated_lines(cli, world, which):
    args, whole = listings(world)[which]
    res = cli(*args)  # stdout is not a terminal
    assert res.exit_code == 0, res
    assert res.stdout == cli(*args, "--output-format", "plain").stdout
    lines = res.stdout.splitlines()
    assert lines and not BOX & set(res.stdout)
    assert len({line.count("\t") for line in lines}) == 1 and lines[0].count("\t") >= 2  # same columns each row
    assert all(field == field.strip() for line in lines for field in line.split("\t")), res.stdout
    assert "ID" not in lines[0].split("\t") and "Name" not in lines[0].split("\t")  # no header line
    if which == "service version list":  # its service ID is the table's title, which plain output leaves out
        whole = ["1", "2"]
    for text in whole:
        assert any(text in line.split("\t") for line in lines)


@pytest.mark.parametrize("which", ["kv-store describe", "service describe", "resource-link describe"])
def test_piped_records_are_label_tab_value_lines(cli, world, which):
    args, _ = records(world)[which]
    res = cli(*args)
    assert res.exit_code == 0, res
    lines = res.stdout.splitlines()
    assert lines and not BOX & set(res.stdout)
    assert all("\t" in line and line == line.strip() for line in lines), res.stdout


@pytest.mark.parametrize("which", ["kv-store list", "service list", "service version list", "resource-link list",
                                   "profile list"])  # fmt: skip
def test_json_and_ndjson_choices(cli, world, which):
    args, _ = listings(world)[which]
    legacy = cli(*args, "--json")
    assert legacy.exit_code == 0, legacy
    assert cli(*args, "--output-format", "json").stdout == legacy.stdout  # byte-identical to --json
    obj = json.loads(legacy.stdout)
    items = obj["Data"] if isinstance(obj, dict) else obj
    nd = cli(*args, "--output-format", "ndjson")
    assert nd.exit_code == 0, nd
    assert [json.loads(line) for line in nd.stdout.splitlines()] == items
    clash = cli(*args, "--json", "--output-format", "plain")
    assert clash.exit_code == 2 and clash.stdout == "" and clash.stderr.startswith("Error: --json and --output-format")


def test_entry_list_keeps_format_as_a_hidden_alias(cli, store_id):
    for key in ("a", "b"):
        assert cli("-q", "kv-store-entry", "create", "-s", store_id, "-k", key, "--value", "v").exit_code == 0
    for fmt in ("plain", "json", "ndjson", "table"):
        new = cli("kv-store-entry", "list", "-s", store_id, "--output-format", fmt)
        old = cli("kv-store-entry", "list", "-s", store_id, "--format", fmt)
        assert new.exit_code == old.exit_code == 0 and new.stdout == old.stdout, (new, old)
    assert "--output-format" in cli("kv-store-entry", "list", "--help").stdout
    res = cli("kv-store-entry", "list", "-s", store_id, "--format", "json", "--output-format", "plain")
    assert res.exit_code == 2 and "disagree" in res.stderr
