"""Start-up benchmark: kvcli against the official Fastly CLI, in the same process tree, same server.

Measures the wall time (median of many runs, after warm-ups) of:
  1. `kvcli --version`                                   vs `fastly version`
  2. `kvcli kv-store-entry get` on the embedded backend   vs `fastly kv-store-entry get` against `kvcli local serve`
  3. `kvcli kv-store-entry get` over HTTP to the server   vs the same official get
and prints the ratios. Target (issue 7): embedded get <= 2.5x the official CLI's get.

Usage: python benchmarks/startup.py [--runs 30] [--fastly PATH]
The official binary is found at --fastly, $KVCLI_FASTLY_BIN, or .tools/node_modules/@fastly/cli-linux-x64/fastly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_fastly(explicit: str | None) -> str | None:
    for cand in (explicit, os.environ.get("KVCLI_FASTLY_BIN"), ROOT / ".tools/node_modules/@fastly/cli-linux-x64/fastly"):
        if cand and Path(cand).is_file():
            return str(cand)
    return shutil.which("fastly")


def kvcli_cmd() -> list[str]:
    exe = shutil.which("kvcli")
    return [exe] if exe else [sys.executable, "-m", "kvcli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_runs(cmd: list[str], env: dict[str, str], runs: int, warmup: int = 3) -> list[float]:
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()[-500:]}")
        if i >= warmup:
            out.append(dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--fastly", default=None)
    args = ap.parse_args()

    fastly = find_fastly(args.fastly)
    tmp = Path(tempfile.mkdtemp(prefix="kvcli-startup-"))
    env = dict(os.environ)
    env.update(
        KVCLI_DATA_DIR=str(tmp / "data"), KVCLI_CONFIG_DIR=str(tmp / "config"), HOME=str(tmp / "home"), NO_COLOR="1"
    )
    for k in ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "KVCLI_PROFILE"):
        env.pop(k, None)
    (tmp / "home").mkdir()
    kv = kvcli_cmd()

    sid = subprocess.run(kv + ["-q", "kv-store", "create", "-n", "bench", "--json"], env=env, capture_output=True,
                         check=True, text=True)
    import json

    store_id = json.loads(sid.stdout)["StoreID"]
    subprocess.run(kv + ["-q", "kv-store-entry", "create", "-s", store_id, "-k", "k1", "--value", "hello world"],
                   env=env, check=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(kv + ["local", "serve", "--port", str(port), "--data-dir", env["KVCLI_DATA_DIR"],
                                    "--token", "bench"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("kvcli local serve did not start") from None
                time.sleep(0.05)
        http_env = dict(env, FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url, FASTLY_API_TOKEN="bench")

        rows: list[tuple[str, float]] = []

        def bench(label: str, cmd: list[str], e: dict[str, str]) -> float:
            med = statistics.median(time_runs(cmd, e, args.runs))
            rows.append((label, med))
            return med

        v = bench("kvcli --version", kv + ["--version"], env)
        g_local = bench("kvcli get (embedded)", kv + ["kv-store-entry", "get", "-s", store_id, "-k", "k1"], env)
        g_http = bench("kvcli get (HTTP to local serve)",
                       kv + ["kv-store-entry", "get", "-s", store_id, "-k", "k1"], http_env)
        py = bench("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], env)
        if fastly:
            fv = bench("fastly version", [fastly, "version", "-q"], http_env)
            fg = bench("fastly kv-store-entry get", [fastly, "kv-store-entry", "get", "-s", store_id, "-k", "k1", "-q"],
                       http_env)
        print(f"{'command':45s} {'median ms':>10s}")
        for label, med in rows:
            print(f"{label:45s} {med * 1000:10.1f}")
        print()
        if fastly:
            print(f"ratio kvcli --version / fastly version          : {v / fv:5.2f}x")
            print(f"ratio kvcli get (embedded) / fastly get         : {g_local / fg:5.2f}x   (target <= 2.5x)")
            print(f"ratio kvcli get (HTTP) / fastly get             : {g_http / fg:5.2f}x")
        else:
            print("official CLI not found: ratios against it skipped")
        print(f"ratio kvcli get (embedded) / python -c pass     : {g_local / py:5.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
