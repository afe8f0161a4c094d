"""Tokens without the command line (issue 12, item 17): `--token-stdin`, and a hidden prompt only at a terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kvcli import config as cfgmod
from tests.conftest import subprocess_env

TOKEN = "tok-from-stdin-987654"


def _profiles(isolated) -> dict[str, cfgmod.Profile]:
    return cfgmod.load(isolated["config"] / "config.toml").profiles


@pytest.mark.parametrize("piped", [TOKEN, TOKEN + "\n", TOKEN + "\r\n"])
def test_create_reads_the_token_from_stdin_and_strips_one_newline(cli, isolated, piped):
    res = cli("profile", "create", "work", "--token-stdin", input=piped)
    assert res.exit_code == 0, res
    assert _profiles(isolated)["work"].token == TOKEN
    assert TOKEN not in res.stdout + res.stderr


def test_update_reads_the_token_from_stdin(cli, isolated):
    assert cli("profile", "create", "work", "--token", "old-token-123").exit_code == 0
    res = cli("profile", "update", "work", "--token-stdin", input=TOKEN + "\n")
    assert res.exit_code == 0, res
    assert _profiles(isolated)["work"].token == TOKEN


@pytest.mark.parametrize("piped", ["", "\n", "   \n"])
def test_an_empty_token_on_stdin_is_refused_and_nothing_is_saved(cli, isolated, piped):
    res = cli("profile", "create", "work", "--token-stdin", input=piped)
    assert res.exit_code == 2, res
    assert res.stderr.startswith("Error: --token-stdin read no token") and "(hint: " in res.stderr
    assert not (isolated["config"] / "config.toml").exists()


def test_a_multi_line_token_on_stdin_is_refused(cli, isolated):
    res = cli("profile", "create", "work", "--token-stdin", input=TOKEN + "\n\n")
    assert res.exit_code == 2 and "line break" in res.stderr, res


@pytest.mark.parametrize(
    "args",
    [
        ["create", "w", "--token-stdin", "--token", TOKEN],
        ["create", "w", "--token-stdin", "--local"],
    ],
)
def test_token_stdin_conflicts_are_usage_errors(cli, args):
    res = cli("profile", *args, input=TOKEN)
    assert res.exit_code == 2, res
    assert res.stderr.startswith("Error: ")


def test_no_token_and_no_terminal_never_prompts(isolated):
    """A script (stdin a pipe that never ends) must not hang: no prompt, the profile has no token."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "profile", "create", "work"],
        env=subprocess_env(),
        stdin=subprocess.PIPE,  # kept open: reading it would block until the timeout
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        code = proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0, err
    assert b"Created profile 'work'" in err and b"hidden" not in err
    assert _profiles(isolated)["work"].token is None


def _on_a_terminal():
    """preexec_fn: a new session whose controlling terminal is stdin (a pty), as in a login shell."""
    import fcntl
    import os
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_at_a_terminal_a_missing_token_is_asked_for_hidden(isolated):
    pty = pytest.importorskip("pty")
    import os
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "profile", "create", "work"],
        env=subprocess_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=_on_a_terminal,
    )
    os.close(slave)
    shown = b""
    try:
        while b"hidden" not in shown:  # wait for the prompt (an event, not a delay)
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, shown
            shown += os.read(master, 4096)
        os.write(master, TOKEN.encode() + b"\n")
        assert proc.wait(timeout=60) == 0
        try:
            while select.select([master], [], [], 0.5)[0]:
                shown += os.read(master, 4096)
        except OSError:  # the pty closed with the process
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert TOKEN.encode() not in shown  # the input was not echoed
    assert b"Created profile 'work'" in shown
    assert _profiles(isolated)["work"].token == TOKEN


def test_at_a_terminal_non_interactive_and_local_profiles_are_never_asked(cli, isolated, monkeypatch):
    monkeypatch.setattr("kvcli.cli.state.stdin_is_tty", lambda: True)

    def fail(prompt):
        raise AssertionError("prompted")

    monkeypatch.setattr("getpass.getpass", fail)
    assert cli("-i", "profile", "create", "work").exit_code == 0
    assert cli("profile", "create", "dev", "--local").exit_code == 0
    assert cli("profile", "create", "tok", "--token", TOKEN).exit_code == 0
    assert _profiles(isolated)["work"].token is None
