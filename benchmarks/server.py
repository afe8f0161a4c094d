"""`kvcli local serve` throughput against two floors: a minimal Starlette + sqlite3 app, a bare uvicorn app (issue 14).

Three servers on loopback, each its own process, each started by this script:

  kvcli     `kvcli local serve --data-dir D` (as installed: its own uvicorn configuration)
  minimal   the same two lookups on the same database (D/kvcli.db), written the obvious way: Starlette routes, one
            sqlite3 connection queried on the event loop, plain uvicorn (asyncio loop, h11)
  bare      a bare ASGI app returning a fixed 100-byte body, plain uvicorn (asyncio loop, h11)

and two requests, each against a store of --keys entries of 100 bytes:

  get       GET /resources/stores/kv/{S}/keys/{key}   (keys taken in turn)
  list      GET /resources/stores/kv/{S}/keys?limit=100

The load generator (raw asyncio sockets, HTTP/1.1 keep-alive, one request in flight per connection) runs in this
process at 1, 10 and 50 concurrent connections for --seconds each (at most --max-requests), the servers in turn, for
--rounds rounds. It shares the machine's cores with the server under test, as a local client would. It prints the
median requests/s over the rounds, the ratios kvcli/minimal and kvcli/bare, and the p99 latency at 50 connections.

It also reads each server's CPU time (user + system, /proc/PID/stat) around every measurement and prints requests per
CPU-second: on a machine shared with other work, requests/s follow the load, while the CPU a request costs the server
moves much less.

--soak SECONDS then loads kvcli's server alone (get and list mixed, --soak-conns connections, default 10; a list such
as 1,10,50 takes the levels in turn, as the measurements do) and reports its RSS after the warm-up, at the start of
the soak, its maximum and at its end (from /proc/PID/status).

Usage: python benchmarks/server.py [--rounds 3] [--seconds 3] [--keys 1000] [--soak 0] [--soak-conns 10|1,10,50]
                                   [--clean-venv] [--dry-run]
--rounds 0 runs the soak alone.
Internal: --app minimal|bare --db PATH runs one floor server (printing its URL on stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_env, clean_venv, cpu_seconds, kvcli_cmd, start_server, stop

HERE = Path(__file__).resolve().parent
LEVELS = (1, 10, 50)
SERVERS = ("kvcli", "minimal", "bare")
ENDPOINTS = ("get", "list")
LIST_LIMIT = 100
VALUE = b"v" * 100


# ---------------------------------------------------------------------------------------------------- the floor apps
def minimal_app(db: str):
    """Starlette + sqlite3 on the event loop: the same lookups kvcli's engine makes, without anything around them."""
    import sqlite3

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")

    def not_found() -> Response:
        return JSONResponse({"msg": "not found"}, status_code=404)

    async def get_item(request):
        store, key = request.path_params["store_id"], request.path_params["key"]
        row = conn.execute(
            "SELECT value, generation, metadata FROM items WHERE store_id = ? AND key = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (store, key, time.time()),
        ).fetchone()
        if row is None:
            return not_found()
        return Response(row[0], media_type="application/octet-stream",
                        headers={"Generation": str(row[1]), "Metadata": row[2]})  # fmt: skip

    async def list_keys(request):
        store = request.path_params["store_id"]
        limit = int(request.query_params.get("limit") or 1000)
        keys = [r[0] for r in conn.execute(
            "SELECT key FROM items WHERE store_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?",
            (store, time.time(), limit + 1),
        )]  # fmt: skip
        if not keys and conn.execute("SELECT 1 FROM stores WHERE id = ?", (store,)).fetchone() is None:
            return not_found()
        meta: dict = {"limit": limit}
        if len(keys) > limit:
            keys = keys[:limit]
            meta["next_cursor"] = base64.urlsafe_b64encode(keys[-1].encode()).decode()
        return JSONResponse({"data": keys, "meta": meta})

    return Starlette(routes=[
        Route("/resources/stores/kv/{store_id}/keys", list_keys),
        Route("/resources/stores/kv/{store_id}/keys/{key}", get_item),
    ])  # fmt: skip


def bare_app():
    body = VALUE

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return app


def serve_floor(which: str, db: str | None) -> None:
    import socket

    import uvicorn

    app = minimal_app(db) if which == "minimal" and db else bare_app()
    # proto=IPPROTO_TCP as kvcli's serve does: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it each response's second write waits for the client's delayed ACK (~40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, loop="asyncio", http="h11", log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


# ---------------------------------------------------------------------------------------------------- load generator
class Load:
    """``conns`` keep-alive connections, each sending the next path as soon as the previous response is read."""

    def __init__(self, port: int, paths: list[str], conns: int, seconds: float, max_requests: int) -> None:
        self.port, self.paths, self.conns = port, paths, conns
        self.seconds, self.max_requests = seconds, max_requests
        self.latencies: list[float] = []
        self.errors = 0
        self._next = 0

    def _path(self) -> str | None:
        if self._next >= self.max_requests:
            return None
        path = self.paths[self._next % len(self.paths)]
        self._next += 1
        return path

    async def _conn(self, end: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while time.perf_counter() < end and (path := self._path()) is not None:
                t0 = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                length = None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    raise SystemExit(f"response without Content-Length from port {self.port}: {head[:200]!r}")
                await reader.readexactly(length)
                self.latencies.append(time.perf_counter() - t0)
                if status != b"200":
                    self.errors += 1
        finally:
            writer.close()

    async def run(self) -> tuple[float, float]:
        """(requests per second, p99 latency in seconds)."""
        t0 = time.perf_counter()
        await asyncio.gather(*(self._conn(t0 + self.seconds) for _ in range(self.conns)))
        took = time.perf_counter() - t0
        if self.errors:
            raise SystemExit(f"{self.errors} responses were not 200 (port {self.port})")
        lat = sorted(self.latencies)
        return len(lat) / took, lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def load(port: int, paths: list[str], conns: int, seconds: float, max_requests: int) -> tuple[float, float]:
    return asyncio.run(Load(port, paths, conns, seconds, max_requests).run())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


# ---------------------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all servers (default 3)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per server, request and level (default 3)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="at most this many requests per measurement")
    ap.add_argument("--keys", type=int, default=1000, help="entries in the store (default 1000)")
    ap.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help="then load kvcli alone this long")
    ap.add_argument("--soak-conns", default="10",
                    help="connections during the soak (default 10), or levels taken in turn (e.g. 1,10,50)")
    ap.add_argument("--kvcli", default=None, help="the kvcli command to serve with, e.g. 'python -m kvcli'")
    ap.add_argument("--clean-venv", action="store_true", help="run kvcli in a venv without this machine's .pth hooks")
    ap.add_argument("--json-out", type=Path, help="also write the figures as JSON")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    ap.add_argument("--app", choices=("minimal", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.app:
        serve_floor(args.app, args.db)
        return
    if args.dry_run:
        for endpoint in ENDPOINTS:
            for conns in LEVELS:
                print(f"{endpoint} at {conns:2d} connections: " + ", ".join(SERVERS) + f" for {args.seconds:g} s each")
        print(f"{args.rounds} rounds; soak {args.soak:g} s")
        return

    tmp = Path(tempfile.mkdtemp(prefix="kvcli-server-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        env = bench_env(tmp)
        kv = shlex.split(args.kvcli) if args.kvcli else kvcli_cmd()
        py = sys.executable
        if args.clean_venv:
            py, kv = clean_venv(tmp / "venv")
        out = subprocess.run([*kv, "-q", "kv-store", "create", "-n", "bench", "--json"], env=env, capture_output=True,
                             check=True, text=True)  # fmt: skip
        store = json.loads(out.stdout)["StoreID"]
        value = base64.b64encode(VALUE).decode()
        keys = [f"key-{i:06d}" for i in range(args.keys)]
        (tmp / "keys.ndjson").write_text("".join(json.dumps({"key": k, "value": value}) + "\n" for k in keys))
        subprocess.run([*kv, "-q", "kv-store-entry", "create", "-s", store, "--file", str(tmp / "keys.ndjson")],
                       env=env, check=True, capture_output=True)  # fmt: skip

        data = env["KVCLI_DATA_DIR"]
        kv_server, kv_url = start_server(kv, env, data, None)
        procs.append(kv_server)
        ports = {"kvcli": int(kv_url.rsplit(":", 1)[1])}
        pids = {"kvcli": kv_server.pid}
        for which in ("minimal", "bare"):
            proc = subprocess.Popen([py, str(HERE / "server.py"), "--app", which, "--db", str(Path(data) / "kvcli.db")],
                                    env=env, stdout=subprocess.PIPE)  # fmt: skip
            procs.append(proc)
            assert proc.stdout is not None
            url = proc.stdout.readline().decode().strip()
            if not url.startswith("http://"):
                raise SystemExit(f"the {which} server did not start")
            ports[which], pids[which] = int(url.rsplit(":", 1)[1]), proc.pid

        base = f"/resources/stores/kv/{store}/keys"
        paths = {"get": [f"{base}/{k}" for k in keys], "list": [f"{base}?limit={LIST_LIMIT}"]}
        for server in SERVERS:  # warm-up, and a check that every server answers both requests
            for endpoint in ENDPOINTS:
                load(ports[server], paths[endpoint], 2, 0.3, 200)
        rss_warm = rss_kib(pids["kvcli"])  # after the warm-up, before the measurements

        rps: dict[str, list[float]] = {}
        p99: dict[str, list[float]] = {}
        per_cpu: dict[str, list[float]] = {}  # requests per CPU-second of the server
        t0 = time.monotonic()
        for _ in range(args.rounds):
            for endpoint in ENDPOINTS:
                for conns in LEVELS:
                    for server in SERVERS:
                        c0, w0 = cpu_seconds(pids[server]), time.perf_counter()
                        r, p = load(ports[server], paths[endpoint], conns, args.seconds, args.max_requests)
                        cpu = cpu_seconds(pids[server]) - c0
                        label = f"{endpoint} {conns} {server}"
                        rps.setdefault(label, []).append(r)
                        p99.setdefault(label, []).append(p)
                        if cpu > 0:
                            per_cpu.setdefault(label, []).append(r * (time.perf_counter() - w0) / cpu)
        took = time.monotonic() - t0

        la = os.getloadavg()
        print(f"{args.rounds} rounds of {args.seconds:g} s per measurement, {took:.0f} s; store of {args.keys} entries "
              f"of {len(VALUE)} B; nproc {os.cpu_count()}, load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} at the end")
        print(f"kvcli: {shlex.join(kv)}" + (" (clean venv)" if args.clean_venv else ""))
        print("requests/s, median over the rounds (p99 latency at 50 connections, median over the rounds)\n")
        print(f"{'request':8s} {'conns':>5s} {'kvcli':>9s} {'minimal':>9s} {'bare':>9s} {'kv/min':>7s} {'kv/bare':>7s}"
              f"   p99 kvcli / minimal / bare")  # fmt: skip
        result: dict = {"rps": {}, "p99_ms": {}, "load_average": la}
        for endpoint in ENDPOINTS if args.rounds else ():  # --rounds 0: the soak alone
            for conns in LEVELS:
                med = {s: statistics.median(rps[f"{endpoint} {conns} {s}"]) for s in SERVERS}
                row = f"{endpoint:8s} {conns:5d} " + " ".join(f"{med[s]:9.0f}" for s in SERVERS)
                row += f" {med['kvcli'] / med['minimal']:6.2f}x {med['kvcli'] / med['bare']:6.2f}x"
                for s in SERVERS:
                    result["rps"][f"{endpoint} {conns} {s}"] = round(med[s], 1)
                if conns == 50:
                    p = {s: statistics.median(p99[f"{endpoint} {conns} {s}"]) * 1000 for s in SERVERS}
                    row += "   " + " / ".join(f"{p[s]:.1f}" for s in SERVERS) + " ms"
                    for s in SERVERS:
                        result["p99_ms"][f"{endpoint} {s}"] = round(p[s], 2)
                print(row)
        if args.rounds and per_cpu:
            print("\nrequests per CPU-second of the server, median over the rounds\n")
            print(f"{'request':8s} {'conns':>5s} {'kvcli':>9s} {'minimal':>9s} {'bare':>9s} {'kv/min':>7s} "
                  f"{'kv/bare':>7s}")  # fmt: skip
            result["per_cpu_second"] = {}
            for endpoint in ENDPOINTS:
                for conns in LEVELS:
                    med = {s: statistics.median(per_cpu.get(f"{endpoint} {conns} {s}") or [float("nan")])
                           for s in SERVERS}  # fmt: skip
                    print(f"{endpoint:8s} {conns:5d} " + " ".join(f"{med[s]:9.0f}" for s in SERVERS)
                          + f" {med['kvcli'] / med['minimal']:6.2f}x {med['kvcli'] / med['bare']:6.2f}x")  # fmt: skip
                    for s in SERVERS:
                        result["per_cpu_second"][f"{endpoint} {conns} {s}"] = round(med[s], 1)

        if args.soak:
            pid = pids["kvcli"]
            start = rss_kib(pid)
            end_at = time.monotonic() + args.soak
            samples = [start]
            levels = [int(n) for n in str(args.soak_conns).split(",")]
            turn = 0
            while (left := end_at - time.monotonic()) > 0:
                conns = levels[turn % len(levels)]
                turn += 1
                for endpoint in ENDPOINTS:
                    load(ports["kvcli"], paths[endpoint], conns, min(left, 5.0), args.max_requests)
                samples.append(rss_kib(pid))
            end = rss_kib(pid)
            print(f"\nkvcli's server RSS: {rss_warm / 1024:.1f} MiB after the warm-up, "
                  f"{start / 1024:.1f} MiB after the measurements above")
            print(f"soak: {args.soak:g} s of get and list at {args.soak_conns} connections against kvcli; "
                  f"RSS {start / 1024:.1f} MiB at the start, {end / 1024:.1f} MiB at the end, "
                  f"{samples[len(samples) // 2] / 1024:.1f} MiB half-way "
                  f"(max {max(samples) / 1024:.1f} MiB, {len(samples)} samples)")  # fmt: skip
            result["soak"] = {"seconds": args.soak, "rss_warm_kib": rss_warm, "rss_start_kib": start,
                              "rss_end_kib": end, "samples": samples}  # fmt: skip
        if args.json_out:
            args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
