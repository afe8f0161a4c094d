"""kvcli over a faulty network: a fault-injecting proxy between the HTTP adapter and `kvcli local serve`.

With 10 % of requests answered by a fault (429 with and without Retry-After / Fastly-RateLimit-Reset, 500, 503,
slow answers, connections dropped before or after the request was applied, resets, truncated bodies), a 10,000-entry
import, an export, a listing of 3,000 keys and a bulk delete all finish with exactly the right result and a summary
that matches it. With 100 % faults every command stops within the configured retry budget, with a one-line error
naming the problem and the exit code of that problem.

Retry sleeps are kept short through KVCLI_HTTP_BACKOFF_BASE; ``KVCLI_RELIABILITY_HEAVY=1`` exports and deletes all
10,000 entries instead of a 1,000-key export and a 100-key delete.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time

import pytest

from kvcli.bulk.importer import SERVER_ERROR_STREAK
from tests.reliability.conftest import BASE_SEED, HEAVY, stored
from tests.reliability.faultproxy import ALL_FAULTS, FaultProxy

pytestmark = pytest.mark.slow

TOKEN = "faulty-net-token"
A_KEYS = 3_000  # a/0000 … a/2999: the listing
B_KEYS = 7_000  # b/0000 … b/6999: export and delete slices


@pytest.fixture
def net(server_factory, monkeypatch):
    """A served backend with one store, a 10 %-fault proxy in front of it, and retry settings for tests."""
    from kvcli.api.http import HttpAdapter

    server = server_factory(token=TOKEN)
    with HttpAdapter(server.url, TOKEN) as api:
        sid = api.create_store("faulty").id
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", "12")
    monkeypatch.setenv("KVCLI_HTTP_MAX_RETRY_SECONDS", "60")
    monkeypatch.setenv("KVCLI_HTTP_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("KVCLI_HTTP_TIMEOUT", "10")
    monkeypatch.setenv("KVCLI_NO_PROGRESS", "1")
    with FaultProxy(server.url, rate=0.10, seed=BASE_SEED, slow_seconds=0.2) as proxy:
        yield server, proxy, sid


def _input(path, seed: int) -> dict[str, tuple[bytes, str | None]]:
    rng = random.Random(seed)
    keys = [f"a/{i:04d}" for i in range(A_KEYS)] + [f"b/{i:04d}" for i in range(B_KEYS)]
    rng.shuffle(keys)
    expected = {}
    with open(path, "w", encoding="utf-8") as fh:
        for i, key in enumerate(keys):
            value = rng.randbytes(rng.randint(0, 64))
            line = {"key": key, "value": base64.b64encode(value).decode("ascii")}
            meta = None
            if i % 7 == 0:
                meta = line["metadata"] = f"m{i}"
            expected[key] = (value, meta)
            fh.write(json.dumps(line) + "\n")
    return expected


def _metadata(data_dir, sid: str) -> dict[str, str]:
    import sqlite3

    from tests.reliability.conftest import db_path

    conn = sqlite3.connect(db_path(data_dir))
    try:
        return dict(conn.execute("SELECT key, metadata FROM items WHERE store_id = ?", (sid,)).fetchall())
    finally:
        conn.close()


def _one_error_line(res) -> str:
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, res.stderr
    assert "(hint: " in lines[0], lines[0]
    return lines[0]


def test_ten_percent_faults_import_export_list_and_delete_are_exact(net, cli, tmp_path):
    server, proxy, sid = net
    src = tmp_path / "in.ndjson"
    expected = _input(src, BASE_SEED)
    via = ["--endpoint", proxy.url, "-t", TOKEN]

    # import: every entry written once, an honest summary
    res = cli(*via, "kv-store-entry", "create", "--store-id", sid, "--file", str(src), "--json")
    assert res.exit_code == 0, res
    summary = res.json()
    assert (summary["written"], summary["failed"], summary["success"]) == (10_000, 0, True)
    content = stored(server.data_dir, sid)
    assert content == {k: v for k, (v, _) in expected.items()}
    meta = _metadata(server.data_dir, sid)
    assert all(meta[k] == (m or "") for k, (_, m) in expected.items())

    # export: a slice (or everything with KVCLI_RELIABILITY_HEAVY=1), values and metadata as stored
    prefix = "" if HEAVY else "b/0"
    out = tmp_path / "export.ndjson"
    args = ["--prefix", prefix] if prefix else []
    res = cli(*via, "kv-store-entry", "export", "--store-id", sid, *args, "-O", str(out), "--json")
    assert res.exit_code == 0, res
    want = {k: v for k, v in expected.items() if k.startswith(prefix)}
    assert res.json()["exported"] == len(want) and res.json()["failed"] == 0
    got = {}
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        assert obj["key"] not in got, f"exported twice: {obj['key']}"
        got[obj["key"]] = (base64.b64decode(obj["value"]), obj.get("metadata"))
    assert got == want

    # list 3,000 keys (several times: each listing is only a few requests)
    for _ in range(4):
        res = cli(*via, "kv-store-entry", "list", "--store-id", sid, "--prefix", "a/", "--json")
        assert res.exit_code == 0, res
        assert res.json() == sorted(k for k in expected if k.startswith("a/"))

    # bulk delete a slice (or the whole store): exactly those keys go, the summary says how many
    prefix = "" if HEAVY else "b/10"  # 100 keys (every DELETE is a durable write on the server: ~8 ms each)
    what = ["--all"] if HEAVY else ["--prefix", prefix]
    res = cli(*via, "kv-store-entry", "delete", "--store-id", sid, *what, "-y", "--json")
    assert res.exit_code == 0, res
    gone = [k for k in expected if k.startswith(prefix)]
    report = res.json()
    assert (report["deleted"], report["failed"]) == (len(gone), 0), report
    remaining = stored(server.data_dir, sid)
    assert set(remaining) == set(expected) - set(gone)

    # the faults really happened, every kind of them
    assert proxy.injected >= 0.05 * sum(proxy.counts.values()), proxy.counts
    assert all(proxy.counts[f] > 0 for f in ALL_FAULTS), proxy.counts


PERSISTENT = [
    # (fault, exit code, words the error names)
    ("429", 6, "429"),
    ("429-retry-after", 6, "429"),
    ("503", 1, "503"),
    ("500", 1, "500"),
    ("drop", 1, "connection"),
    ("reset", 1, "connection"),
]


@pytest.mark.parametrize(("fault", "code", "needle"), PERSISTENT, ids=[p[0] for p in PERSISTENT])
def test_persistent_faults_stop_every_command_within_the_retry_budget(server_factory, cli, tmp_path, monkeypatch,
                                                                      fault, code, needle):
    from kvcli.api.http import HttpAdapter

    server = server_factory(token=TOKEN)
    with HttpAdapter(server.url, TOKEN) as api:
        sid = api.create_store("down").id
        api.put_item(sid, "present", b"x")
    attempts, budget = 3, 2.0
    monkeypatch.setenv("KVCLI_HTTP_MAX_ATTEMPTS", str(attempts))
    monkeypatch.setenv("KVCLI_HTTP_MAX_RETRY_SECONDS", str(budget))
    monkeypatch.setenv("KVCLI_HTTP_BACKOFF_BASE", "0.01")
    src = tmp_path / "in.ndjson"
    _input(src, 1)
    via = ["--endpoint", None, "-t", TOKEN]
    commands = {
        "import": ["kv-store-entry", "create", "--store-id", sid, "--file", str(src)],
        "export": ["kv-store-entry", "export", "--store-id", sid, "-O", str(tmp_path / "out.ndjson")],
        "list": ["kv-store-entry", "list", "--store-id", sid, "--json"],
        "delete": ["kv-store-entry", "delete", "--store-id", sid, "--all", "-y"],
        "get": ["kv-store-entry", "get", "--store-id", sid, "--key", "present"],
    }
    with FaultProxy(server.url, rate=1.0, faults=[fault], seed=3) as proxy:
        via[1] = proxy.url
        for name, args in commands.items():
            before = sum(proxy.counts.values())
            t0 = time.monotonic()
            res = cli(*via, *args)
            took = time.monotonic() - t0
            sent = sum(proxy.counts.values()) - before
            assert res.exit_code == code, (name, res)
            line = _one_error_line(res)
            assert needle in line.lower(), (name, line)
            # `attempts` tries, or fewer when a Retry-After would have ended after the time budget
            tries = re.search(r"gave up after (\d+) attempts", line)
            assert tries and 2 <= int(tries[1]) <= attempts, (name, line)
            if fault == "429-retry-after" and int(tries[1]) < attempts:
                assert "not retried: the server asked to wait" in line and "left of the" in line, line
            else:
                assert int(tries[1]) == attempts, line
            # one request tried that often (an import: the chunks in flight, each tried `attempts` times at most, and
            # it stops after the first rate-limited chunk, or after SERVER_ERROR_STREAK chunks failed with 5xx)
            if name == "import":
                assert 2 <= sent <= attempts * (4 + SERVER_ERROR_STREAK), (name, sent)
            else:
                assert sent == int(tries[1]), (name, sent, proxy.requests[-sent:])
            assert took < 2 * budget + 5, (name, took)
            if name == "import":
                assert "--resume" in line, line
            if name == "export":
                assert not (tmp_path / "out.ndjson").exists()
    assert stored(server.data_dir, sid) == {"present": b"x"}  # nothing was half-done behind the faults
