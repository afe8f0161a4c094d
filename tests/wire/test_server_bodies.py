"""Request bodies of `kvcli local serve` (issue 12, item 8): every route has a body limit, and the batch endpoint
streams, so that neither an unauthenticated request nor a big batch makes the server's memory grow with the body,
and a big batch never holds the database's write lock for long.

Memory is measured in the server process (peak RSS, ``VmHWM``) as growth over a small request of the same kind, never
as an absolute figure; concurrency is synchronised on what the database shows, never on elapsed time.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from kvcli.local.engine import Engine
from tests.served import LocalServe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STORES = "/resources/stores/kv"
OIDC = "/realms/fastly/.well-known/openid-configuration"
MiB = 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no VmHWM in /proc/<pid>/status")


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux >= 4.0: writing 5 to clear_refs), when allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def filler(total: int, block: int = MiB):
    """``total`` bytes of zeros in ``block``-sized pieces (an upload body that the test never holds whole)."""
    piece = b"\0" * block
    sent = 0
    while sent < total:
        n = min(block, total - sent)
        yield piece[:n]
        sent += n


def ndjson(prefix: str, count: int, value_size: int):
    """``count`` NDJSON batch lines, produced in blocks of about 1 MiB."""
    value = base64.b64encode(b"v" * value_size).decode()
    lines: list[bytes] = []
    size = 0
    for i in range(count):
        lines.append(f'{{"key":"{prefix}-{i:07d}","value":"{value}"}}\n'.encode())
        size += len(lines[-1])
        if size >= MiB:
            yield b"".join(lines)
            lines, size = [], 0
    if lines:
        yield b"".join(lines)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = LocalServe(tmp_path_factory.mktemp("bodies") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(served):
    with httpx.Client(base_url=served.url, timeout=120) as c:
        yield c


@pytest.fixture
def sid(http) -> str:
    import uuid

    r = http.post(STORES, json={"name": f"b-{uuid.uuid4().hex[:10]}"})
    assert r.status_code == 201
    return r.json()["id"]


def growth(served, request) -> int:
    """Peak RSS growth of the server while ``request()`` runs, over the same request's small twin run before."""
    reset_peak(served.proc.pid)
    before = peak_rss(served.proc.pid)
    request()
    return peak_rss(served.proc.pid) - before


# --------------------------------------------------------------------------------------------------- limits
def test_a_body_on_a_get_is_refused(http, sid):
    for path in (OIDC, STORES, f"{STORES}/{sid}", f"{STORES}/{sid}/keys"):
        r = http.request("GET", path, content=b"x" * 10)
        assert r.status_code == 413, (path, r.text)
        assert r.json()["msg"] == "Payload too large" and "GET" in r.json()["detail"]
    assert http.get(OIDC, headers={"content-length": "0"}).status_code == 200  # an empty body is no body


def test_json_and_form_bodies_have_a_limit(http, sid):
    big = json.dumps({"name": "n" * (2 * MiB)})
    for method, path in (("POST", STORES), ("PUT", f"{STORES}/{sid}"), ("POST", "/service")):
        r = http.request(method, path, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, (method, path, r.text)
        assert "limit" in r.json()["detail"]


def test_the_unauthenticated_discovery_route_reads_no_big_body_into_memory(served, http):
    small = growth(served, lambda: http.request("GET", OIDC, content=filler(MiB)))
    r: list[httpx.Response] = []
    big = growth(served, lambda: r.append(http.request("GET", OIDC, content=filler(256 * MiB))))
    assert r[0].status_code == 413
    assert big - small < 32 * MiB, f"peak RSS grew by {big >> 20} MiB for a 256 MiB body ({small >> 20} for 1 MiB)"


# ---------------------------------------------------------------------------------------------------- batch
def test_a_big_batch_is_streamed_in_flat_memory_and_fully_written(served, http, sid):
    r_small = []
    small = growth(served, lambda: r_small.append(
        http.put(f"{STORES}/{sid}/batch", content=ndjson("small", 500, 1024))))
    assert r_small[0].status_code == 200, r_small[0].text
    r_big = []
    count = 120_000  # about 160 MiB of NDJSON
    big = growth(served, lambda: r_big.append(http.put(f"{STORES}/{sid}/batch", content=ndjson("big", count, 1024))))
    assert r_big[0].status_code == 200, r_big[0].text[:500]
    assert big - small < 48 * MiB, f"peak RSS grew by {big >> 20} MiB for 160 MiB of NDJSON ({small >> 20} for 700 KiB)"
    engine = Engine.in_dir(served.data_dir)
    try:
        n = engine.conn.execute("SELECT count(*) FROM items WHERE store_id = ? AND key LIKE 'big-%'", (sid,))
        assert n.fetchone()[0] == count
    finally:
        engine.close()


def test_an_embedded_writer_keeps_working_during_a_big_batch(served, sid):
    """The server commits a batch in bounded transactions as it arrives: while the upload is still going, its first
    records are visible and another process's writer (a short busy timeout) gets its turn between them."""
    reader = sqlite3.connect(served.data_dir / "kvcli.db", timeout=30, check_same_thread=False)
    committed = lambda: reader.execute(  # noqa: E731
        "SELECT count(*) FROM items WHERE store_id = ? AND key LIKE 'conc-%'", (sid,)).fetchone()[0]
    writer = Engine.in_dir(served.data_dir)
    writes: list[str] = []
    blocks = 12

    def body():
        gen = ndjson("conc", 4000 * blocks, 1024)  # ~5 MiB blocks of 4000 lines
        for b in range(blocks):
            for _ in range(5):
                yield next(gen)
            # progress mark: the server has committed part of what was sent, while the request is still open
            deadline = time.monotonic() + 60
            while committed() < 2000 * (b + 1):
                assert time.monotonic() < deadline, f"nothing committed while the upload is in flight (block {b})"
                time.sleep(0.01)
            writer.conn.execute("PRAGMA busy_timeout = 10000")
            writer.put_item(sid, f"embedded-{b}", b"x")  # raises "database is locked" after 10 s of waiting
            writes.append(f"embedded-{b}")
        yield from gen

    errors: list[BaseException] = []

    def upload():
        try:
            with httpx.Client(timeout=300) as c:
                r = c.put(f"{served.url}{STORES}/{sid}/batch", content=body())
                assert r.status_code == 200, r.text[:500]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=upload)
    t.start()
    t.join(600)
    writer.close()
    assert not errors, errors
    assert len(writes) == blocks
    assert committed() == 4000 * blocks
    reader.close()


def test_a_single_line_over_the_value_limit_is_one_record_error(tmp_path):
    server = LocalServe(tmp_path / "data")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            sid = c.post(STORES, json={"name": "limits"}).json()["id"]

            def body():
                yield b'{"key":"before","value":"YQ=="}\n'
                yield b'{"key":"huge","value":"'
                yield from filler(40 * MiB)  # far over 25 MiB, in base64 or not: never buffered whole
                yield b'"}\n{"key":"after","value":"Yg=="}\n'

            r = c.put(f"{STORES}/{sid}/batch", content=body())
            assert r.status_code == 400, r.text[:500]
            errors = r.json()["errors"]
            assert [(e["index"], e["key"]) for e in errors] == [(1, "huge")]
            assert "limit" in errors[0]["reason"]
            assert c.get(f"{STORES}/{sid}/keys").json()["data"] == ["after", "before"]
    finally:
        server.stop()
