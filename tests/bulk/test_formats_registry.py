"""The bulk formats are named once (kvcli.formats): the readers, the writers, the help and the hints follow it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kvcli import formats
from kvcli.api.errors import UsageError
from kvcli.bulk.export import check_format
from kvcli.bulk.sources import normalize_format
from kvcli.cli.main import app


def _help(*words: str) -> str:
    res = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "400", "TERM": "dumb", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


@pytest.mark.parametrize("name", formats.INPUT_FORMATS)
def test_every_input_format_of_the_registry_is_read_and_named_in_create_help(name):
    assert normalize_format(name) == name
    assert f"input format ({', '.join(formats.INPUT_FORMATS)})" in _help("kv-store-entry", "create")


@pytest.mark.parametrize("name", formats.EXPORT_FORMATS)
def test_every_export_format_of_the_registry_is_written_and_named_in_export_help(name):
    assert check_format(name) == name
    assert formats.export_help() in _help("kv-store-entry", "export")
    assert name in formats.export_help()


def test_an_unknown_format_names_the_registry_in_its_hint():
    with pytest.raises(UsageError) as err:
        normalize_format("csv")
    assert err.value.hint == f"use one of: {', '.join(formats.INPUT_FORMATS)}"
    with pytest.raises(UsageError) as err:
        check_format("csv")
    assert err.value.hint == f"use one of: {', '.join(formats.EXPORT_FORMATS)}"
