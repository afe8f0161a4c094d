"""Crash safety of bulk import: SIGKILL at random moments, then check what was promised and resume.

A 100,000-record NDJSON import (about 1 % of the records rewrite a key seen shortly before, so input order matters)
is killed with SIGKILL at seeded random moments — the importing kvcli process (embedded backend, and over HTTP to
`kvcli local serve`), or the server itself. After each kill:

* the database passes ``PRAGMA integrity_check`` and the engine opens it;
* every record the import *reported as written* — the ranges its ``--resume`` journal acknowledged, which is what
  kvcli promises survives a crash — is stored with its value (or the value of a later record for the same key,
  which may have been in flight);
* nothing is stored that the input does not hold, and the writes nobody was told about are bounded by the chunks in
  flight;
* ``--resume`` (with another batch size) completes the import: its summary accounts for every record exactly once
  (``skipped`` + ``written`` = 100,000) and the store then holds exactly the input's final content.

Each run kills twice (the second kill hits a resumed run). Kill points: wait for a random number of acknowledged
chunks, then a random extra delay (so kills land inside a chunk's write, between chunks, and during commits).
``KVCLI_RELIABILITY_RUNS=N`` makes N runs per scenario (default: 2 embedded, 1 served, 1 per server-kill variant).
"""

from __future__ import annotations

import json
import random
import time

import pytest

from kvcli.local.engine import Engine
from tests.reliability.conftest import (
    BASE_SEED,
    BulkInput,
    acked_ranges,
    check_reported,
    integrity,
    journal_files,
    journal_lines,
    kill9,
    kvcli_env,
    make_input,
    run_kvcli,
    runs,
    start_kvcli,
    stored,
)

pytestmark = pytest.mark.slow

N = 100_000
TOKEN = "crash-token"


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> BulkInput:
    return make_input(tmp_path_factory.mktemp("crash-input") / "input.ndjson", N, seed=BASE_SEED)


def journal_done(journal) -> bool:
    """The import that wrote this journal reached the end of its input (its last line is {"done": true})."""
    lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
    return bool(lines) and '"done": true' in lines[-1]


def _kill_at_random(args, env, client_data, rng: random.Random, log, *, batch: int, jitter: float) -> bool:
    """Start an import and SIGKILL it after a random number of newly acknowledged chunks plus a random delay.

    Returns True when the kill interrupted it (False: it finished first, which the caller tolerates)."""
    resuming = "--resume" in args and journal_files(client_data)
    base = max(0, journal_lines(client_data)) if resuming else 0
    done = sum(e - s + 1 for s, e in acked_ranges(journal_files(client_data)[0])) if resuming else 0
    left = (N - done) // batch  # chunks this run has to write
    # a fresh run may die in its first chunk (0: as soon as its journal exists); a resumed one after it began writing
    # at most half of what is left, so the import is still running when the kill comes, however busy the machine
    wanted = base + rng.randint(1 if resuming else 0, max(1, left // 2))
    delay = rng.uniform(0, jitter)
    proc = start_kvcli(args, env, log)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if journal_lines(client_data) >= wanted:
            break
        time.sleep(0.003)
    time.sleep(delay)
    return kill9(proc)


def _after_kill(data: BulkInput, client_data, server_data, sid: str, bound: int, finished: bool = False) -> dict:
    assert integrity(server_data) == "ok"
    eng = Engine.in_dir(server_data)  # opens cleanly (no "malformed", no leftover lock)
    try:
        eng.get_store(sid)
    finally:
        eng.close()
    files = journal_files(client_data)
    assert len(files) <= 1
    acked = acked_ranges(files[0]) if files else []
    content = stored(server_data, sid)
    if finished:  # the import ended before the kill: it reported everything as written
        assert all(journal_done(f) for f in files) and content == data.final
        return {"acked": len(data), "unreported_present": 0}
    stats = check_reported(data, acked, content)
    assert stats["unreported_present"] <= bound, stats
    return stats


def _resume_to_the_end(data: BulkInput, args, env, client_data, server_data, sid: str) -> dict:
    res = run_kvcli([*args, "--resume", "--json"], env)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    assert b"Traceback" not in res.stderr
    summary = json.loads(res.stdout)
    assert summary["success"] is True and summary["failed"] == 0
    assert summary["skipped"] + summary["written"] == len(data), summary
    assert integrity(server_data) == "ok"
    content = stored(server_data, sid)
    final = data.final
    assert len(content) == len(final)
    assert content == final
    # a finished import's journal says so: a further --resume has nothing left to do
    assert [journal_done(f) for f in journal_files(client_data)] == [True]
    return summary


def _scenario(data: BulkInput, tmp_path, run: int, *, new_store, base_args, env, client_data, server_data,
              batch_sizes, concurrency: int, jitter: float) -> None:
    """Kill a fresh import, then the resumed one, then resume to the end.

    A kill that comes after the import finished (a machine so busy that the poll woke late) proves nothing about a
    crash: for the first kill the run starts over on a fresh store (``new_store()`` -> store ID) and a new journal,
    so every run has a kill that landed inside an import, whatever the machine is doing."""
    rng = random.Random(BASE_SEED * 1000 + run)
    sid = new_store()
    for attempt in range(5):
        bs = rng.choice(batch_sizes)
        hit = _kill_at_random([*base_args(sid), "--batch-size", str(bs)], env, client_data, rng,
                              tmp_path / f"kill0-{attempt}", batch=bs, jitter=jitter)
        _after_kill(data, client_data, server_data, sid, bound=concurrency * max(batch_sizes), finished=not hit)
        if hit:
            break
        for journal in journal_files(client_data):  # start over: a new store, and no journal of the finished run
            journal.unlink()
        sid = new_store()
    else:
        raise AssertionError("no kill landed while the import was running, in 5 fresh imports")
    bs = rng.choice(batch_sizes)
    hit = _kill_at_random([*base_args(sid), "--batch-size", str(bs), "--resume"], env, client_data, rng,
                          tmp_path / "kill1", batch=bs, jitter=jitter)
    _after_kill(data, client_data, server_data, sid, bound=2 * concurrency * max(batch_sizes), finished=not hit)
    _resume_to_the_end(data, [*base_args(sid), "--batch-size", str(rng.choice(batch_sizes))], env, client_data,
                       server_data, sid)


@pytest.mark.parametrize("run", range(runs(2)))
def test_sigkill_of_an_embedded_import_loses_nothing_reported_and_resume_completes(big_input, tmp_path, run):
    data_dir = tmp_path / "data"
    stores = iter(range(100))

    def new_store() -> str:
        eng = Engine.in_dir(data_dir)
        try:
            return eng.create_store(f"crash-{run}-{next(stores)}").id
        finally:
            eng.close()

    _scenario(
        big_input, tmp_path, run, new_store=new_store,
        base_args=lambda sid: ["kv-store-entry", "create", "--store-id", sid, "--file", str(big_input.path)],
        env=kvcli_env(data_dir), client_data=data_dir, server_data=data_dir,
        batch_sizes=[1000, 2500, 5000], concurrency=1, jitter=0.15,
    )


@pytest.mark.parametrize("run", range(runs(1)))
def test_sigkill_of_an_import_into_local_serve_loses_nothing_reported(big_input, tmp_path, run, server_factory):
    from kvcli.api.http import HttpAdapter

    server = server_factory(token=TOKEN)
    stores = iter(range(100))

    def new_store() -> str:
        with HttpAdapter(server.url, TOKEN) as api:
            return api.create_store(f"crash-http-{run}-{next(stores)}").id

    client_data = tmp_path / "client"
    _scenario(
        big_input, tmp_path, run, new_store=new_store,
        base_args=lambda sid: ["--endpoint", server.url, "-t", TOKEN, "kv-store-entry", "create", "--store-id", sid,
                               "--file", str(big_input.path)],
        env=kvcli_env(client_data), client_data=client_data, server_data=server.data_dir,
        batch_sizes=[1000, 2000], concurrency=4, jitter=0.2,
    )


def _running_import(server, name: str, args, env, client_data, log, rng: random.Random):
    """Start an import into ``server`` and return (process, store ID) once it has acknowledged a random number of
    chunks (3 to 50) plus a random delay, still running. If it finished first (a machine so busy that the poll woke
    late), start over on a fresh store, so the caller always has a running import to interrupt."""
    from kvcli.api.http import HttpAdapter

    for attempt in range(5):
        with HttpAdapter(server.url, TOKEN) as api:
            sid = api.create_store(f"{name}-{attempt}").id
        proc = start_kvcli(args(sid), env, log)
        wanted = rng.randint(3, 50)
        while proc.poll() is None and journal_lines(client_data) < wanted:
            time.sleep(0.003)
        time.sleep(rng.uniform(0, 0.2))
        if proc.poll() is None:
            return proc, sid
        for journal in journal_files(client_data):
            journal.unlink()
    raise AssertionError("the import finished before the server could be killed, in 5 fresh imports")


@pytest.mark.parametrize("run", range(runs(1)))
def test_a_server_killed_and_restarted_quickly_is_survived_by_the_retries(big_input, tmp_path, run, server_factory):
    """The client keeps retrying while the server is down; once it is back the import finishes by itself."""

    rng = random.Random(BASE_SEED * 7 + run)
    server = server_factory(token=TOKEN)
    client_data = tmp_path / "client"
    env = kvcli_env(client_data, KVCLI_HTTP_MAX_ATTEMPTS="60", KVCLI_HTTP_MAX_RETRY_SECONDS="60",
                    KVCLI_HTTP_BACKOFF_BASE="0.05")
    proc, sid = _running_import(
        server, f"server-crash-{run}",
        lambda sid: ["--endpoint", server.url, "-t", TOKEN, "kv-store-entry", "create", "--store-id", sid,
                     "--file", str(big_input.path), "--json"],
        env, client_data, tmp_path / "client-run", rng,
    )
    server.kill()
    assert integrity(server.data_dir) == "ok"
    time.sleep(rng.uniform(0, 0.5))
    server.start()
    assert proc.wait(timeout=180) == 0, (tmp_path / "client-run.err").read_text()[-3000:]
    summary = json.loads((tmp_path / "client-run.out").read_text())
    assert summary["written"] == N and summary["failed"] == 0
    assert integrity(server.data_dir) == "ok"
    assert stored(server.data_dir, sid) == big_input.final


@pytest.mark.parametrize("run", range(runs(1)))
def test_a_server_killed_for_longer_than_the_retry_budget_stops_the_import_cleanly(big_input, tmp_path, run,
                                                                                    server_factory):
    """The client gives up with a one-line error naming --resume; after a restart on the same data directory
    everything it reported is there, and --resume finishes the job."""

    rng = random.Random(BASE_SEED * 11 + run)
    server = server_factory(token=TOKEN)
    client_data = tmp_path / "client"
    env = kvcli_env(client_data, KVCLI_HTTP_MAX_ATTEMPTS="3", KVCLI_HTTP_MAX_RETRY_SECONDS="0.5",
                    KVCLI_HTTP_BACKOFF_BASE="0.05")

    def args(sid: str) -> list[str]:
        return ["--endpoint", server.url, "-t", TOKEN, "kv-store-entry", "create", "--store-id", sid,
                "--file", str(big_input.path)]

    proc, sid = _running_import(server, f"server-down-{run}", args, env, client_data, tmp_path / "client-run", rng)
    base_args = args(sid)
    server.kill()
    code = proc.wait(timeout=120)
    err = (tmp_path / "client-run.err").read_text()
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "--resume" in error_lines[0], err[-3000:]
    server.start()  # same port, same data directory
    _after_kill(big_input, client_data, server.data_dir, sid, bound=4 * 1000)
    summary = _resume_to_the_end(big_input, base_args, env, client_data, server.data_dir, sid)
    assert summary["resumed"] is True
