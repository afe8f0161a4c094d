"""Where `kvcli local serve` spends a bulk import's time: kvcli's concurrent batch requests vs the official CLI's one
streamed request, from a timeline recorded inside the server.

The server runs in a process of this script's own, with the engine and the batch endpoint wrapped to record, per
thread: each batch request (the handler), each parse of a fed chunk, each chunk's put_batch, the wait for the
engine's write lock, the time it is held, and every SQL statement run while holding it. For each span it records
wall time and the thread's CPU time: inside a statement, wall minus CPU is time the thread was not running, i.e.
waiting to get the GIL back after SQLite released it (or, for COMMIT, the fsync). Runs alternate between the tools,
each into a fresh store; the table shows medians over the runs of per-run totals.

Experiments: KVCLI_TIMELINE_SWITCH=0.0005 sets the server's switch interval (sys.setswitchinterval);
KVCLI_TIMELINE_PATCH=FILE runs FILE in the server before it starts (e.g. to try a change without editing kvcli).

Usage: python benchmarks/batch_timeline.py [--runs 3] [--entries 100000] [--fastly PATH] [--clean-venv]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TOKEN = "bench-token"


# ------------------------------------------------------------------------------------ inside the server process
def serve(data_dir: str, out: str) -> None:
    """Run `kvcli local serve` with the timeline recording; the events are written to ``out`` on exit."""
    import atexit
    import contextlib

    if os.environ.get("KVCLI_TIMELINE_PATCH"):  # an experiment: a module run first
        import runpy

        runpy.run_path(os.environ["KVCLI_TIMELINE_PATCH"])
    from kvcli.local import engine as engine_mod
    from kvcli.local import engine_db, server_batch

    #: (thread id, name, wall start, wall end, CPU start, CPU end, run-queue wait start, end)
    events: list[tuple] = []
    state = threading.local()
    wall, cpu = time.perf_counter, time.thread_time

    def queued() -> float:
        """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), 0 elsewhere."""
        try:
            with open("/proc/thread-self/schedstat", "rb") as fh:
                return int(fh.read().split()[1]) / 1e9
        except OSError:
            return 0.0

    def span(name: str, fn):
        def wrapped(*args, **kwargs):
            w0, c0, q0 = wall(), cpu(), queued()
            try:
                return fn(*args, **kwargs)
            finally:
                events.append((threading.get_ident(), name, w0, wall(), c0, cpu(), q0, queued()))
        return wrapped

    @contextlib.contextmanager
    def write(self):  # Engine.write with its lock wait and hold recorded
        conn = self.conn
        tid, w0, c0, q0 = threading.get_ident(), wall(), cpu(), queued()
        with self._write_lock:
            w1, c1, q1 = wall(), cpu(), queued()
            events.append((tid, "lock wait", w0, w1, c0, c1, q0, q1))
            state.in_write = True
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                state.in_write = False
                events.append((tid, "lock held", w1, wall(), c1, cpu(), q1, queued()))

    engine_mod.Engine.write = write  # type: ignore[method-assign]
    base_execute = engine_db._Connection.execute

    def execute(self, *args):
        if not getattr(state, "in_write", False):
            return base_execute(self, *args)
        sql = str(args[0]).split(None, 2)
        name = "sql " + " ".join(sql[:2] if sql[0] in ("BEGIN", "SELECT", "INSERT") else sql[:1])
        return span(name[:40], base_execute)(self, *args)

    engine_db._Connection.execute = execute  # type: ignore[method-assign]
    from kvcli.local import engine_items

    engine_items.insert_rows = span("insert_rows", engine_items.insert_rows)  # type: ignore[assignment]
    engine_mod.Engine.put_batch = span("put_batch", engine_mod.Engine.put_batch)  # type: ignore[method-assign]
    server_batch.BatchParser.feed = span("parse", server_batch.BatchParser.feed)  # type: ignore[method-assign]
    server_batch.BatchParser.finish = span("parse", server_batch.BatchParser.finish)  # type: ignore[method-assign]
    # register() imports the handler from its module when the app is made, so the wrapped one is routed
    server_batch.put_batch = span("request", server_batch.put_batch)  # type: ignore[assignment]

    @atexit.register
    def dump() -> None:
        Path(out).write_text(json.dumps(events))

    if os.environ.get("KVCLI_TIMELINE_SWITCH"):  # an experiment: the interpreter's switch interval, in seconds
        sys.setswitchinterval(float(os.environ["KVCLI_TIMELINE_SWITCH"]))
    from kvcli.entry import main as kvcli_main

    sys.argv = ["kvcli", "local", "serve", "--port", "0", "--data-dir", data_dir, "--token", TOKEN]
    try:
        kvcli_main()
    except SystemExit:
        pass


# ------------------------------------------------------------------------------------------------- the driver
def summarise(events: list[list], t0: float, t1: float) -> dict[str, float]:
    """Per-name totals (wall, and wall minus CPU) of the events that started in [t0, t1], plus the run's wall."""
    out: dict[str, float] = {}
    requests = 0
    for _tid, name, w0, w1, c0, c1, q0, q1 in events:
        if not t0 <= w0 <= t1:
            continue
        waited = max(0.0, (w1 - w0) - (c1 - c0))
        out[name] = out.get(name, 0.0) + (w1 - w0)
        out[name + " | no CPU"] = out.get(name + " | no CPU", 0.0) + (q1 - q0)
        out[name + " | blocked"] = out.get(name + " | blocked", 0.0) + max(0.0, waited - (q1 - q0))
        requests += name == "request"
    out["requests"] = requests
    return out


def replay_bodies(nd: Path, lines: int = 1000) -> list[bytes]:
    """The NDJSON file cut into request bodies of ``lines`` lines, as kvcli's import sends it."""
    with open(nd, "rb") as fh:
        all_lines = fh.readlines()
    return [b"".join(all_lines[i : i + lines]) for i in range(0, len(all_lines), lines)]


def replay(url: str, sid: str, bodies: list[bytes], in_flight: int = 4) -> None:
    """PUT ``bodies`` to the batch endpoint, ``in_flight`` at a time on kept-alive connections."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    todo = iter(enumerate(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                break
            conn.request("PUT", f"/resources/stores/kv/{sid}/batch", item[1],
                         {"Fastly-Key": TOKEN, "Content-Type": "application/x-ndjson"})  # fmt: skip
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                failures.append(f"batch {item[0]}: {resp.status}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"replay failed: {failures[:3]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--fastly", help="path of the official fastly binary")
    ap.add_argument("--clean-venv", action="store_true", help="run kvcli from a venv without .pth start-up hooks")
    ap.add_argument("--tools", default="official,kvcli",
                    help="official, kvcli, and replay: kvcli's requests (1,000 lines, 4 in flight) sent by a client "
                         "of this script's own that spends almost no CPU, so the server's share is seen alone")
    ap.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    from _common import OFFLINE_ENV, bench_env, clean_venv, cpu_seconds, find_fastly, kvcli_cmd, stop
    from bulk_http import make_inputs

    from kvcli.api.http import HttpAdapter

    fastly = find_fastly(args.fastly)
    if fastly is None:
        raise SystemExit("the official fastly CLI was not found (pass --fastly PATH or set KVCLI_FASTLY_BIN)")
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="kvcli-bench-timeline-"))
    out = work / "timeline.json"
    nd, _ = make_inputs(work, args.entries, 0)
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "data"), str(out)],
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE)  # fmt: skip
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip()
    api = HttpAdapter(url, TOKEN)
    home = work / "home"
    home.mkdir()
    official_env = dict(os.environ, HOME=str(home), FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url,
                        FASTLY_API_TOKEN=TOKEN, **OFFLINE_ENV)  # fmt: skip
    kv_env = dict(bench_env(work / "kv"), PYTHONPATH=str(ROOT), KVCLI_NO_PROGRESS="1")
    kv_bin = clean_venv(work / "venv")[1] if args.clean_venv else kvcli_cmd()
    tools = args.tools.split(",")
    windows: dict[str, list[tuple[float, float, float]]] = {tool: [] for tool in tools}
    server_cpu: dict[str, list[float]] = {tool: [] for tool in tools}
    bodies = replay_bodies(nd) if "replay" in tools else []
    try:
        for run in range(args.runs):
            for tool in tools:
                sid = api.create_store(f"timeline-{run}-{tool}").id
                if tool == "replay":
                    s0, t0 = cpu_seconds(server.pid), time.perf_counter()
                    replay(url, sid, bodies)
                    t1 = time.perf_counter()
                    windows[tool].append((t0, t1, t1 - t0))
                    server_cpu[tool].append(cpu_seconds(server.pid) - s0)
                    continue
                cmd = [fastly, "kv-store-entry", "create", "--store-id", sid, "--file", str(nd), "-q"] \
                    if tool == "official" else \
                    [*kv_bin, "--endpoint", url, "--token", TOKEN, "-q", "kv-store-entry", "create", "-s", sid,
                     "--file", str(nd)]  # fmt: skip
                s0, t0 = cpu_seconds(server.pid), time.perf_counter()  # the server's clock (CLOCK_MONOTONIC)
                subprocess.run(cmd, env=official_env if tool == "official" else kv_env, check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
                t1 = time.perf_counter()
                windows[tool].append((t0, t1, t1 - t0))
                server_cpu[tool].append(cpu_seconds(server.pid) - s0)
    finally:
        api.close()
        stop(server)
    events = json.loads(out.read_text())
    print(f"{args.entries:,} entries, {args.runs} runs per tool, interleaved; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; kvcli: {shlex.join(kv_bin)}")
    per_tool = {tool: [summarise(events, t0, t1) for t0, t1, _ in ws] for tool, ws in windows.items()}
    names = sorted({n for runs in per_tool.values() for r in runs for n in r if n not in ("requests",)},
                   key=lambda n: (n.split(" | ")[0], n))  # fmt: skip
    print(f"{'seconds, median of per-run totals':42}" + "".join(f" {tool:>9}" for tool in tools))
    print(f"{'run (client wall)':42}" + "".join(f" {statistics.median(w[2] for w in windows[t]):9.3f}" for t in tools))
    print(f"{'server CPU':42}" + "".join(f" {statistics.median(server_cpu[t]):9.3f}" for t in tools))
    print(f"{'batch requests':42}" + "".join(f" {statistics.median(r['requests'] for r in per_tool[t]):9.0f}"
                                            for t in tools))  # fmt: skip
    for name in names:
        cells = [statistics.median(r.get(name, 0.0) for r in per_tool[tool]) for tool in tools]
        print(f"{name:42}" + "".join(f" {c:9.3f}" for c in cells))


if __name__ == "__main__":
    main()
