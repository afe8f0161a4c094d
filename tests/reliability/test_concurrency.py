"""Concurrency: four kvcli processes on one embedded database, and `kvcli local serve` under 50 concurrent clients.

* Four processes at once on the same data directory: two bulk imports (``a/``, ``b/``), a bulk delete (``c/``) and a
  reader that loops over ``get``, ``list`` and ``export`` (checking every answer) until the imports are done. No
  command fails, "database is locked" never appears, the summaries match what happened, and afterwards every
  imported entry is there with its value, every deleted key is gone, and the untouched keys are unchanged. The
  imports read their input from pipes the test feeds: the second half of ``a/`` is only sent once the reader has
  exported a part of ``a/``, so the reader provably read while an import was under way (by what it read, not by the
  clock).
* 50 threads, each with its own httpx client (no retries), against one server: each writes, reads, describes, lists
  and deletes its own keys and checks every answer, and all of them increment one shared counter with
  compare-and-swap (``if-generation-match``): the final count equals the number of increments that succeeded, so no
  update was lost.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from kvcli.api import wire
from kvcli.api.models import BatchEntry
from kvcli.local.engine import Engine
from tests.reliability.conftest import BASE_SEED, kvcli_env, start_kvcli, stored

pytestmark = pytest.mark.slow

IMPORT_N = 30_000
DELETE_N = 20_000
READ_N = 2_000


def _value(key: str) -> bytes:
    return f"value of {key}".encode() + bytes(len(key) % 7)


def _ndjson(path, prefix: str, n: int) -> dict[str, bytes]:
    out = {}
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            key = f"{prefix}{i:06d}"
            out[key] = _value(key)
            fh.write(json.dumps({"key": key, "value": base64.b64encode(out[key]).decode()}) + "\n")
    return out


READER = textwrap.dedent(
    """
    import base64, json, os, random, sys, time
    from tests.conftest import invoke

    sid, stop, report, tmp = sys.argv[1:5]
    rng = random.Random(5)
    value = lambda key: f"value of {key}".encode() + bytes(len(key) % 7)
    d_keys = [f"d/{i:06d}" for i in range(READ_N)]
    ops, problems = {"get": 0, "list": 0, "export": 0, "exported_a": []}, []
    deadline = time.monotonic() + 600  # a guard against a hung test, not a timing assumption
    while not os.path.exists(stop) and time.monotonic() < deadline:
        out = os.path.join(tmp, "a-export.ndjson")
        res = invoke(["kv-store-entry", "export", "--store-id", sid, "--prefix", "a/", "-O", out])
        ops["export"] += 1
        if res.exit_code != 0:
            problems.append(["export", res.exit_code, res.stderr[-500:]])
        else:
            lines = open(out, encoding="utf-8").read().splitlines()
            ops["exported_a"].append(len(lines))
            for line in lines:
                obj = json.loads(line)
                if base64.b64decode(obj["value"]) != value(obj["key"]):
                    problems.append(["export", obj["key"], "wrong value"])
            if 0 < len(lines) < IMPORT_N:  # tell the test it saw the import half done
                open(os.path.join(tmp, "reader-saw-partial"), "w").close()
        res = invoke(["kv-store-entry", "list", "--store-id", sid, "--prefix", "d/", "--json"])
        ops["list"] += 1
        if res.exit_code != 0 or json.loads(res.stdout or "null") != d_keys:
            problems.append(["list", res.exit_code, res.stderr[-500:]])
        for key in rng.sample(d_keys, 3):
            res = invoke(["kv-store-entry", "get", "--store-id", sid, "--key", key])
            ops["get"] += 1
            if res.exit_code != 0 or res.stdout_bytes != value(key):
                problems.append(["get", key, res.exit_code, res.stderr[-500:]])
    json.dump({"ops": ops, "problems": problems}, open(report, "w"))
    """
).replace("READ_N", str(READ_N)).replace("IMPORT_N", str(IMPORT_N))


def test_four_processes_import_read_and_delete_on_one_embedded_database(tmp_path):
    data = tmp_path / "data"
    eng = Engine.in_dir(data)
    sid = eng.create_store("shared").id
    c_keys = [f"c/{i:06d}" for i in range(DELETE_N)]
    d_keys = [f"d/{i:06d}" for i in range(READ_N)]
    eng.put_batch(sid, [BatchEntry(k, _value(k)) for k in c_keys + d_keys])
    eng.close()
    a = _ndjson(tmp_path / "a.ndjson", "a/", IMPORT_N)
    b = _ndjson(tmp_path / "b.ndjson", "b/", IMPORT_N)
    env = kvcli_env(data)
    stop, report = tmp_path / "stop", tmp_path / "reader.json"

    def importer(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "kvcli", "kv-store-entry", "create", "--store-id", sid, "--stdin",
             "--batch-size", "100", "--json"],
            env=env, stdin=subprocess.PIPE, stdout=open(tmp_path / f"{name}.out", "wb"),
            stderr=open(tmp_path / f"{name}.err", "wb"),
        )

    procs = {
        "import-a": importer("import-a"),
        "import-b": importer("import-b"),
        "delete-c": start_kvcli(["kv-store-entry", "delete", "--store-id", sid, "--prefix", "c/", "-y", "--json"],
                                env, tmp_path / "delete-c"),
        "reader": subprocess.Popen([sys.executable, "-c", READER, sid, str(stop), str(report), str(tmp_path)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "reader.err", "wb")),
    }
    lines = {name: (tmp_path / f"{name[-1]}.ndjson").read_bytes().splitlines(keepends=True)
             for name in ("import-a", "import-b")}
    half = IMPORT_N // 2
    for name in ("import-a", "import-b"):
        procs[name].stdin.write(b"".join(lines[name][:half]))
        procs[name].stdin.flush()
    # the reader must see a/ half imported before the rest is sent: it read while import-a was running
    saw_partial = tmp_path / "reader-saw-partial"
    guard = time.monotonic() + 300  # against a hang only
    while not saw_partial.exists():
        assert procs["reader"].poll() is None, (tmp_path / "reader.err").read_text()[-3000:]
        assert procs["import-a"].poll() is None, (tmp_path / "import-a.err").read_text()[-3000:]
        assert time.monotonic() < guard, "the reader never saw a/ half imported"
        time.sleep(0.01)
    for name in ("import-a", "import-b"):
        procs[name].stdin.write(b"".join(lines[name][half:]))
        procs[name].stdin.close()
    for name in ("import-a", "import-b", "delete-c"):
        procs[name].wait(timeout=600)
    stop.touch()
    procs["reader"].wait(timeout=600)

    for name in ("import-a", "import-b", "delete-c"):
        err = (tmp_path / f"{name}.err").read_text()
        assert procs[name].returncode == 0, (name, err[-3000:])
        assert "locked" not in err and "Traceback" not in err, (name, err[-3000:])
    assert procs["reader"].returncode == 0, (tmp_path / "reader.err").read_text()[-3000:]
    result = json.loads(report.read_text())
    assert result["problems"] == [], result["problems"][:5]
    assert result["ops"]["get"] >= 3 and result["ops"]["export"] >= 1, result["ops"]

    for name in ("import-a", "import-b"):
        summary = json.loads((tmp_path / f"{name}.out").read_text())
        assert (summary["written"], summary["failed"]) == (IMPORT_N, 0), summary
    deleted = json.loads((tmp_path / "delete-c.out").read_text())
    assert (deleted["deleted"], deleted["failed"]) == (DELETE_N, 0), deleted

    content = stored(data, sid)
    assert {k: v for k, v in content.items() if k.startswith("a/")} == a
    assert {k: v for k, v in content.items() if k.startswith("b/")} == b
    assert not [k for k in content if k.startswith("c/")]
    assert {k: v for k, v in content.items() if k.startswith("d/")} == {k: _value(k) for k in d_keys}
    assert len(content) == 2 * IMPORT_N + READ_N  # no phantom keys
    assert any(0 < n < IMPORT_N for n in result["ops"]["exported_a"]), result["ops"]

CLIENTS = 50
OWN_KEYS = 4
INCREMENTS = 1


def _client(url: str, token: str, sid: str, n: int, problems: list, increments: list, barrier) -> None:
    rng = random.Random(BASE_SEED + n)
    base = f"{url}{wire.STORES_PATH}/{sid}"
    headers = {wire.H_KEY: token}

    def check(cond: bool, what: str) -> None:
        if not cond:
            problems.append(f"client {n}: {what}")

    with httpx.Client(headers=headers, timeout=60) as http:
        barrier.wait(timeout=60)
        mine = {}
        for j in range(OWN_KEYS):
            key = f"t{n:02d}/k{j}"
            value = rng.randbytes(rng.randint(0, 200))
            r = http.put(f"{base}/keys/{key.replace('/', '%2F')}", content=value, headers={"metadata": f"m{n}.{j}"})
            check(r.status_code == 200, f"PUT {key} -> {r.status_code} {r.text[:200]}")
            mine[key] = value
            r = http.get(f"{base}/keys/{key.replace('/', '%2F')}")
            check(r.status_code == 200 and r.content == value, f"GET {key} -> {r.status_code}")
            check(r.headers.get(wire.H_METADATA) == f"m{n}.{j}", f"metadata of {key}: {r.headers}")
            r = http.head(f"{base}/keys/{key.replace('/', '%2F')}")
            check(r.status_code == 200 and r.headers.get(wire.H_STORED_LENGTH) == str(len(value)), f"HEAD {key}")
        lines = "\n".join(json.dumps({"key": f"t{n:02d}/b{j}", "value": base64.b64encode(b"%d" % j).decode()})
                          for j in range(20))
        r = http.put(f"{base}/batch", content=lines.encode(), headers={"content-type": wire.CT_NDJSON})
        check(r.status_code == 200, f"batch -> {r.status_code} {r.text[:200]}")
        r = http.get(f"{base}/keys", params={"prefix": f"t{n:02d}/", "limit": "1000"})
        listed = r.json()["data"] if r.status_code == 200 else None
        want = sorted(list(mine) + [f"t{n:02d}/b{j}" for j in range(20)])
        check(listed == want, f"list -> {r.status_code} {listed if listed is None else len(listed)}")
        for key in list(mine)[: OWN_KEYS // 2]:
            r = http.delete(f"{base}/keys/{key.replace('/', '%2F')}")
            check(r.status_code in (200, 204), f"DELETE {key} -> {r.status_code}")
            r = http.get(f"{base}/keys/{key.replace('/', '%2F')}")
            check(r.status_code == 404, f"GET deleted {key} -> {r.status_code}")
        # the shared counter: read, then write value+1 only if nobody wrote in between
        done = 0
        while done < INCREMENTS:
            r = http.get(f"{base}/keys/counter")
            check(r.status_code == 200, f"GET counter -> {r.status_code}")
            gen, count = r.headers[wire.H_GENERATION], int(r.content)
            r = http.put(f"{base}/keys/counter", content=b"%d" % (count + 1),
                         headers={wire.H_IF_GENERATION_MATCH: gen})
            if r.status_code == 200:
                done += 1
                increments.append(n)
            else:
                check(r.status_code == 412, f"CAS -> {r.status_code} {r.text[:200]}")


def test_the_server_keeps_every_answer_right_under_fifty_concurrent_clients(server_factory):
    from kvcli.api.http import HttpAdapter

    token = "many-clients"
    server = server_factory(token=token)
    with HttpAdapter(server.url, token) as api:
        sid = api.create_store("busy").id
        api.put_item(sid, "counter", b"0")
    problems: list[str] = []
    increments: list[int] = []
    barrier = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=_client, args=(server.url, token, sid, n, problems, increments, barrier))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads)
    assert problems == [], problems[:10]
    assert len(increments) == CLIENTS * INCREMENTS
    content = stored(server.data_dir, sid)
    assert content["counter"] == b"%d" % (CLIENTS * INCREMENTS)  # no lost update
    assert len(content) == 1 + CLIENTS * (OWN_KEYS - OWN_KEYS // 2 + 20)
    assert "Traceback" not in server.stderr()


def test_served_connections_send_small_answers_without_waiting_for_delayed_acks():
    """`kvcli local serve` sockets have TCP_NODELAY: a small body written after its headers is not held back until
    the client's delayed ACK (which made every small GET take about 40 ms, and an export of 10,000 keys 35 s)."""
    import asyncio
    import socket

    from kvcli.local import serve

    sock = serve.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        class Proto(asyncio.Protocol):
            def connection_made(self, transport) -> None:
                s = transport.get_extra_info("socket")
                seen.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Proto, sock=sock)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
