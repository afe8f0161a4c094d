"""What kvcli prints when stdout is a terminal (a real pseudo-terminal), against what it prints into a pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import subprocess_env

pty = pytest.importorskip("pty")
tty = pytest.importorskip("tty")


def run_on_tty(args: list[str]) -> tuple[int, bytes, bytes]:
    """Run ``python -m kvcli ARGS`` with stdout on a raw pty (no newline translation); (code, tty bytes, stderr)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kvcli", *args], stdout=slave, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=subprocess_env())  # fmt: skip
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        stderr = proc.stderr.read()
        proc.stderr.close()
        code = proc.wait()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return code, b"".join(chunks), stderr


@pytest.fixture
def values(cli, store_id):
    for key, value in (("meow", b"meow"), ("nl", b"line\n"), ("empty", b"")):
        res = cli("-q", "kv-store-entry", "create", "-s", store_id, f"--key={key}", "--value-file", "-", input=value)
        assert res.exit_code == 0, res
    return store_id


# the fast path (kvcli.entry) and the full CLI (-y sends it there) must both end the line at a terminal
@pytest.mark.parametrize("extra", [[], ["-y"]], ids=["fast-path", "full-cli"])
@pytest.mark.parametrize(("key", "shown"), [("meow", b"meow\n"), ("nl", b"line\n"), ("empty", b"")])
def test_get_at_a_terminal_ends_the_line(values, extra, key, shown):
    code, out, err = run_on_tty([*extra, "kv-store-entry", "get", "--store-name", "test-store", "-k", key])
    assert (code, out) == (0, shown), err


@pytest.mark.parametrize("extra", [[], ["-y"]], ids=["fast-path", "full-cli"])
def test_get_into_a_pipe_keeps_the_bytes_exact(values, extra):
    proc = subprocess.run([sys.executable, "-m", "kvcli", *extra, "kv-store-entry", "get", "--store-name",
                           "test-store", "-k", "meow"], capture_output=True, env=subprocess_env())  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, b"meow"), proc.stderr


# ------------------------------------------------------------------------------ a backend chosen by the environment
def run_with_tty_stderr(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run ``python -m kvcli ARGS`` with stderr on a raw pty; (code, stdout, stderr bytes from the terminal)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kvcli", *args], stdout=subprocess.PIPE, stderr=slave,
                                stdin=subprocess.DEVNULL, env=subprocess_env(env))  # fmt: skip
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = proc.stdout.read()
        proc.stdout.close()
        code = proc.wait()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return code, out, b"".join(chunks)


@pytest.fixture
def served(tmp_path):
    from tests.served import LocalServe

    serve = LocalServe(tmp_path / "served")
    yield serve
    serve.stop()


def test_a_read_sent_by_an_environment_variable_says_where_at_a_terminal(served):
    code, out, err = run_with_tty_stderr(["kv-store", "list", "--json"], {"FASTLY_API_ENDPOINT": served.url})
    assert code == 0 and b'"Data"' in out, err
    assert f"Using Fastly API at {served.url} (via FASTLY_API_ENDPOINT)".encode() in err


def test_kvcli_profile_from_the_environment_is_announced_for_reads(cli, tmp_path):
    assert cli("-q", "profile", "create", "dev", "--local", "--data-dir", str(tmp_path / "dev")).exit_code == 0
    assert cli("-q", "profile", "create", "other", "--local").exit_code == 0
    code, out, err = run_with_tty_stderr(["kv-store", "list"], {"KVCLI_PROFILE": "dev"})
    assert code == 0 and b"via KVCLI_PROFILE=dev" in err, err


def test_quiet_or_a_redirected_stderr_or_a_flag_chosen_backend_stays_silent(served):
    env = {"FASTLY_API_ENDPOINT": served.url}
    code, _, err = run_with_tty_stderr(["-q", "kv-store", "list", "--json"], env)
    assert code == 0 and b"Using" not in err, err
    piped = subprocess.run([sys.executable, "-m", "kvcli", "kv-store", "list", "--json"], capture_output=True,
                           env=subprocess_env(env))  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == b"", piped.stderr
    code, _, err = run_with_tty_stderr(["--endpoint", served.url, "kv-store", "list", "--json"], {})
    assert code == 0 and b"Using" not in err, err  # typed on the command line: nothing to be surprised about
