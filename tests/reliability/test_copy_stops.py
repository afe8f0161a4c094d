"""`kv-store copy` from the embedded backend into `kvcli local serve` survives being stopped: after a real SIGINT
(exit 130, the summary's written count is exactly what is stored) or a kill -9, `--resume` finishes the copy exactly
and skips what was acknowledged; through a proxy that answers 10 % of requests with a fault it completes exactly.

The test waits for the resume journal to hold a number of acknowledged batches (a progress mark) before it signals.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import BASE_SEED, journal_lines, kill9, kvcli_env, stored
from tests.reliability.faultproxy import FaultProxy

DEADLINE = 180  # seconds any one wait may take on a very busy machine; never reached when things work
N = 20_000


def key(i: int) -> str:
    return f"c{i:06d}"


def value(i: int) -> bytes:
    return f"copy-{i}-".encode() + b"y" * 300


def source(client: Path, n: int = N) -> dict[str, bytes]:
    from kvcli.api.models import BatchEntry
    from kvcli.local.engine import Engine

    eng = Engine.in_dir(client)
    try:
        sid = eng.create_store("src").id
        for start in range(0, n, 5000):
            eng.put_batch(sid, [BatchEntry(key=key(i), value=value(i), metadata=f"m{i}" if i % 10 == 0 else None)
                                for i in range(start, min(n, start + 5000))])
    finally:
        eng.close()
    return {key(i): value(i) for i in range(n)}


def env_for(tmp_path: Path, client: Path, url: str, **extra: str) -> dict[str, str]:
    env = kvcli_env(client, KVCLI_CONFIG_DIR=str(tmp_path / "config"), **extra)
    res = subprocess.run([sys.executable, "-m", "kvcli", "-q", "profile", "create", "served", "--token", "t",
                          "--endpoint", url], env=env, capture_output=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stderr.decode()
    return env


COPY = ["--local", "kv-store", "copy", "--from", "src", "--to-profile", "served", "--to", "dst"]


def dst_id(server_data: Path) -> str:
    from kvcli.local.engine import Engine

    eng = Engine.in_dir(server_data)
    try:
        return eng.find_store("dst").id
    finally:
        eng.close()


def wait_for(what: str, cond, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while not cond():
        if proc.poll() is not None:
            return  # finished (or failed) first: the caller looks at the exit code
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def start(args: list[str], env: dict[str, str], err: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kvcli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=err.open("wb"))


def resume(env: dict[str, str]) -> dict:
    res = subprocess.run([sys.executable, "-m", "kvcli", *COPY, "--resume", "--json"], env=env, capture_output=True,
                         timeout=DEADLINE)
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


@pytest.mark.parametrize("marks", [1, 6])
def test_ctrl_c_during_a_copy_is_exact_and_resume_finishes_it(tmp_path, server_factory, marks):
    client = tmp_path / "client"
    want = source(client)
    server = server_factory()
    env = env_for(tmp_path, client, server.url)
    assert subprocess.run([sys.executable, "-m", "kvcli", "-q", "-o", "served", "kv-store", "create", "--name", "dst"],
                          env=env, timeout=DEADLINE).returncode == 0
    err = tmp_path / "copy.err"
    proc = start(COPY, env, err)
    wait_for(f"{marks} acknowledged batches", lambda: journal_lines(client) >= marks, proc)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=DEADLINE)
    text = err.read_text()
    sid = dst_id(server.data_dir)
    if rc == 0:  # it finished before the signal landed: nothing to check about interrupts
        assert stored(server.data_dir, sid) == want
        return
    assert rc == 130, text
    assert "Traceback" not in text and "Fatal Python error" not in text, text
    assert text.rstrip().splitlines()[-1].startswith("Error: copy interrupted"), text
    found = re.findall(r"Copy summary: written ([\d,]+)", text)
    assert found, text
    n = int(found[-1].replace(",", ""))
    content = stored(server.data_dir, sid)
    assert len(content) == n and 0 < n < N, (n, len(content))
    assert all(want[k] == v for k, v in content.items())
    doc = resume(env)
    assert doc["skipped_resumed"] >= 1_000 * marks and doc["written"] == N - doc["skipped_resumed"], doc
    assert stored(server.data_dir, sid) == want


def test_kill_9_during_a_copy_then_resume_finishes_it_exactly(tmp_path, server_factory):
    client = tmp_path / "client"
    want = source(client)
    server = server_factory()
    env = env_for(tmp_path, client, server.url)
    proc = start([*COPY, "--create"], env, tmp_path / "copy.err")
    wait_for("3 acknowledged batches", lambda: journal_lines(client) >= 3, proc)
    killed = kill9(proc)
    doc = resume(env)
    sid = dst_id(server.data_dir)
    assert stored(server.data_dir, sid) == want
    if killed:
        assert doc["resumed"] is True and doc["skipped_resumed"] >= 3_000, doc
    res = subprocess.run([sys.executable, "-m", "kvcli", "--local", "kv-store", "diff", "--from", "src",
                          "--to-profile", "served", "--to", "dst"], env=env, capture_output=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stderr.decode()


@pytest.mark.slow
def test_copy_and_diff_through_a_10_percent_fault_proxy_complete_exactly(tmp_path, server_factory):
    client = tmp_path / "client"
    n = 3_000
    want = source(client, n)
    server = server_factory()
    with FaultProxy(server.url, rate=0.10, seed=BASE_SEED, slow_seconds=0.2) as proxy:
        env = env_for(tmp_path, client, proxy.url, KVCLI_HTTP_MAX_ATTEMPTS="12", KVCLI_HTTP_MAX_RETRY_SECONDS="60",
                      KVCLI_HTTP_BACKOFF_BASE="0.01", KVCLI_HTTP_TIMEOUT="10")
        res = subprocess.run([sys.executable, "-m", "kvcli", *COPY, "--create", "--json"], env=env,
                             capture_output=True, timeout=DEADLINE)
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads(res.stdout)["written"] == n
        sid = dst_id(server.data_dir)
        assert stored(server.data_dir, sid) == want
        # the other way, with changes to find and a --delete: reads, batch writes and deletions all meet faults
        res = subprocess.run([sys.executable, "-m", "kvcli", "-q", "--local", "kv-store-entry", "delete",
                              "--store-name", "src", "-k", key(7)], env=env, capture_output=True, timeout=DEADLINE)
        assert res.returncode == 0, res.stderr.decode()
        res = subprocess.run([sys.executable, "-m", "kvcli", "--local", "kv-store", "diff", "--from", "src",
                              "--to-profile", "served", "--to", "dst", "--format", "ndjson"], env=env,
                             capture_output=True, timeout=DEADLINE)
        assert res.returncode == 8, res.stderr.decode()
        assert [json.loads(line) for line in res.stdout.splitlines()] == [{"key": key(7), "status": "only_in_to"}]
        res = subprocess.run([sys.executable, "-m", "kvcli", "-y", *COPY, "--delete", "--json"], env=env,
                             capture_output=True, timeout=DEADLINE)
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads(res.stdout)["deleted"] == 1
        del want[key(7)]
        assert stored(server.data_dir, sid) == want
        assert sum(proxy.counts.values()) > 0, proxy.counts
