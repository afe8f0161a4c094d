"""Output settings are one object per invocation, passed down: no module-level state decides how kvcli prints."""

from __future__ import annotations

import io

import click
import pytest

import kvcli.cli.state as state_module
from kvcli.cli.state import Output, State
from kvcli.cli.store_bodies import list_stores


def _buffers(**settings) -> Output:
    return Output(stdout=io.StringIO(), stderr=io.StringIO(), **settings)


def _held(value: object) -> list[object]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    return [value]


def test_importing_the_state_module_creates_no_state_or_output_object():
    found = [name for name, value in vars(state_module).items()
             for held in _held(value) if isinstance(held, (State, Output))]  # fmt: skip
    assert found == []


def test_two_states_in_one_process_print_by_their_own_settings(capsys):
    quiet = State(local=True, out=_buffers(quiet=True))
    loud = State(local=True, out=_buffers())
    try:
        for state in (loud, quiet, loud):  # interleaved: neither leaves anything behind for the other
            list_stores(state, json_out=False, fmt="plain")
    finally:
        quiet.close()
        loud.close()
    assert quiet.out.stderr.getvalue() == ""
    assert loud.out.stderr.getvalue().count("No KV stores.") == 2
    assert capsys.readouterr() == ("", "")  # nothing went to the process's own streams


def test_data_goes_to_the_state_own_stdout_even_when_quiet(capsys):
    state = State(local=True, out=_buffers(quiet=True))
    try:
        list_stores(state, json_out=True, fmt=None)
    finally:
        state.close()
    assert '"Data": []' in state.out.stdout.getvalue()
    assert state.out.stderr.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_the_announcement_follows_the_state_that_opens_the_backend():
    quiet = State(local=True, out=_buffers(quiet=True))
    loud = State(local=True, out=_buffers())
    try:
        quiet.api(writes=True)
        loud.api(writes=True)
    finally:
        quiet.close()
        loud.close()
    assert quiet.out.stderr.getvalue() == ""
    assert loud.out.stderr.getvalue().startswith("Using ")


def test_colour_is_a_setting_of_the_output():
    forced, plain, default = _buffers(colour=True), _buffers(colour=False), _buffers()
    for out in (forced, plain, default):
        out.success("done")
    assert forced.stderr.getvalue() == "\x1b[1;32mSUCCESS:\x1b[0m done\n"
    assert plain.stderr.getvalue() == "SUCCESS: done\n"
    assert default.stderr.getvalue() == "SUCCESS: done\n"  # not a terminal: no colour unless forced


def test_a_command_without_kvcli_root_state_is_refused_not_given_a_default():
    ctx = click.Context(click.Command("orphan"))
    with pytest.raises(RuntimeError, match="no State"):
        State.of(ctx)
    ctx.obj = State.from_flags(quiet=True)
    assert State.of(click.Context(click.Command("child"), parent=ctx)).quiet
