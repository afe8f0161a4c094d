"""Bulk import over HTTP to `kvcli local serve`: kvcli vs the official Fastly CLI (targets: file <= 1.0x, dir <= 0.5x).

One server, started by this script on a free loopback port, serves both tools. Interleaved runs, each into a fresh
store, of:

  file  100,000 entries of ~100 B from one NDJSON file:
        official `fastly kv-store-entry create --store-id S --file X -q`  (one streamed batch request)
        kvcli    `kvcli --endpoint URL --token T -q kv-store-entry create -s S --file X`  (chunks in flight)
  dir   a directory of 2,000 files of ~100 B:
        official `fastly kv-store-entry create --store-id S --dir D -q`   (one PUT per file, 50 in flight)
        kvcli    `kvcli … kv-store-entry create -s S --dir D`             (batch requests)

Every run is checked afterwards (the store holds every key). Prints medians and the kvcli/official ratios, and the
median CPU time (user + system) of each tool's process and of the server during its runs: on two cores the client's
CPU competes with the server's.

kvcli's byte-code is cached (in a PYTHONPYCACHEPREFIX of the run's own), as for an installed wheel, even when the
caller sets PYTHONDONTWRITEBYTECODE: without it every run of a checkout compiles kvcli's modules again (~40 ms here).
``--clean-venv`` runs kvcli from a venv without the .pth start-up hooks an editable install adds (see commands.py).

The official binary comes from --fastly, $KVCLI_FASTLY_BIN, or `fastly` on PATH. It runs with
FASTLY_API_ENDPOINT and FASTLY_ACCOUNT_ENDPOINT set to the server, FASTLY_API_TOKEN, and a scratch HOME.

Usage: python benchmarks/bulk_http.py [--runs 3] [--entries 100000] [--files 2000] [--fastly PATH]
                                     [--cases file,dir] [--kvcli-flags "--batch-size 5000"] [--clean-venv]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import bench_env, clean_venv, cpu_seconds, find_fastly, kvcli_cmd, start_server  # noqa: E402

TOKEN = "bench-token"

def make_inputs(work: Path, entries: int, files: int) -> tuple[Path, Path]:
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    nd = work / "in.ndjson"
    with open(nd, "w") as fh:
        for i in range(entries):
            value = "".join(rng.choices(alphabet, k=100)).encode()
            fh.write(json.dumps({"key": f"key-{i:07d}", "value": base64.b64encode(value).decode()}) + "\n")
    d = work / "dir"
    d.mkdir()
    for i in range(files):
        (d / f"file-{i:05d}.txt").write_bytes("".join(rng.choices(alphabet, k=100)).encode())
    return nd, d


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else b""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{err.decode()[-800:]}")
    return dt, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--fastly", help="path of the official fastly binary")
    ap.add_argument("--cases", default="file,dir", help="which cases to run (comma-separated: file, dir)")
    ap.add_argument("--kvcli-flags", default="", help="extra flags for kvcli's create command")
    ap.add_argument("--clean-venv", action="store_true", help="run kvcli from a venv without .pth start-up hooks")
    args = ap.parse_args()
    fastly = find_fastly(args.fastly)
    load_before = os.getloadavg()[0]
    if fastly is None:
        raise SystemExit("the official fastly CLI was not found (pass --fastly PATH or set KVCLI_FASTLY_BIN)")

    from kvcli.api.http import HttpAdapter
    from kvcli.api.port import iter_keys

    work = Path(tempfile.mkdtemp(prefix="kvcli-bench-http-"))
    server = None
    try:
        nd, d = make_inputs(work, args.entries, args.files)
        server, url = start_server([sys.executable, "-m", "kvcli"], dict(os.environ, PYTHONPATH=str(ROOT)),
                                   str(work / "data"), TOKEN)
        api = HttpAdapter(url, TOKEN)
        home = work / "home"
        home.mkdir()
        # its update check goes to a closed loopback port (Go never proxies loopback): nothing leaves the machine
        official_env = dict(os.environ, HOME=str(home), FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url,
                            FASTLY_API_TOKEN=TOKEN, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
                            NO_PROXY="127.0.0.1,localhost")
        kv_env = dict(bench_env(work / "kv"), PYTHONPATH=str(ROOT), KVCLI_NO_PROGRESS="1")
        kv_bin = clean_venv(work / "venv")[1] if args.clean_venv else kvcli_cmd()
        kv = [*kv_bin, "--endpoint", url, "--token", TOKEN, "-q", "kv-store-entry", "create"]
        counter = [0]

        def store() -> str:
            counter[0] += 1
            return api.create_store(f"bench-{counter[0]}").id

        def check(sid: str, expected: int) -> None:
            n = sum(len(p.items) for p in iter_keys(api, sid))
            if n != expected:
                raise SystemExit(f"store {sid} holds {n} keys, expected {expected}")

        extra = shlex.split(args.kvcli_flags)
        cases = {
            "file": (["--file", str(nd)], args.entries),
            "dir": (["--dir", str(d)], args.files),
        }
        cases = {name: case for name, case in cases.items() if name in args.cases.split(",")}
        times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        server_cpu: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for case, (flags, expected) in cases.items():
                for tool in ("official", "kvcli"):
                    sid = store()
                    cmd = [fastly, "kv-store-entry", "create", "--store-id", sid, *flags, "-q"] if tool == "official" \
                        else [*kv, "-s", sid, *flags, *extra]
                    s0 = cpu_seconds(server.pid)
                    dt, used = timed(cmd, official_env if tool == "official" else kv_env)
                    server_cpu.setdefault((case, tool), []).append(cpu_seconds(server.pid) - s0)
                    check(sid, expected)
                    times.setdefault((case, tool), []).append(dt)
                    cpu.setdefault((case, tool), []).append(used)
        api.close()
        print(f"kvcli local serve at {url}; {args.entries:,} NDJSON entries and {args.files:,} files of ~100 B; "
              f"{args.runs} runs each, interleaved; load average {load_before:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after")
        print(f"kvcli: {shlex.join(kv_bin)}{' ' + shlex.join(extra) if extra else ''}"
              + (" (clean venv: no .pth start-up hooks)" if args.clean_venv else ""))
        print(f"{'case':6} {'tool':9} {'median s':>9} {'min s':>7} {'CPU s':>6} {'server CPU s':>12}")
        for (case, tool), ts in times.items():
            print(f"{case:6} {tool:9} {statistics.median(ts):9.3f} {min(ts):7.3f} "
                  f"{statistics.median(cpu[(case, tool)]):6.2f} {statistics.median(server_cpu[(case, tool)]):12.2f}")
        for case, target in [(c, t) for c, t in (("file", 1.0), ("dir", 0.5)) if c in cases]:
            ratio = statistics.median(times[(case, "kvcli")]) / statistics.median(times[(case, "official")])
            print(f"ratio kvcli/official ({case}) = {ratio:.2f} (target <= {target})")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
