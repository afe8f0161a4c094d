"""`kv-store copy` embedded → HTTP vs the two-command way (export to a file, then import it), issue 17: target ≤ 0.7x.

A source store of N keys (~100 B values, a tenth with metadata) on the embedded backend; `kvcli local serve`,
started by this script on a free loopback port, as a Fastly profile. Interleaved runs, each into a fresh (empty)
store created beforehand, of:

  copy     `kvcli --local -q kv-store copy --from src --to-profile served --to copy-R`
  two-step `kvcli --local -q kv-store-entry export --store-name src -O X.ndjson`
           then `kvcli -o served -q kv-store-entry create --store-name two-R --file X.ndjson`

Every run is checked (the destination holds N keys). Prints the wall-time medians and the copy/two-step ratio, the
client processes' CPU time (less sensitive to a busy machine), each command's peak RSS (from wait4), and `uptime`
before and after (the machine may be shared).

``--busy`` keeps one core busy (a Python loop, started before the runs and stopped after them) to see the ratio on a
machine that is not idle.

Usage: python benchmarks/copy_between.py [--runs 3] [--keys 100000] [--busy]
"""

from __future__ import annotations

import argparse
import os
import random
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

from _common import kvcli_cmd, start_server  # noqa: E402

TOKEN = "bench-token"








CPU: dict[str, list[float]] = {"copy": [], "two": []}


def run(cmd: list[str], env: dict[str, str], cpu: list[float] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command; its CPU seconds (user + system) are added to ``cpu``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err.decode()[-800:]}")
    if cpu is not None:
        cpu.append(usage.ru_utime + usage.ru_stime)
    return dt, usage.ru_maxrss


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(uptime not available)"


def fill(data: Path, keys: int) -> None:
    from kvcli.api.models import BatchEntry
    from kvcli.local.engine import Engine

    rng = random.Random(17)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    eng = Engine.in_dir(data)
    try:
        sid = eng.create_store("src").id
        for start in range(0, keys, 10_000):
            eng.put_batch(sid, [BatchEntry(key=f"key-{i:07d}", value=bytes(rng.choices(alphabet, k=100)),
                                           metadata=f"meta-{i}" if i % 10 == 0 else None)
                                for i in range(start, min(keys, start + 10_000))])
    finally:
        eng.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--busy", action="store_true", help="keep one core busy with a Python loop during the runs")
    args = ap.parse_args(argv)

    from kvcli.api.http import HttpAdapter
    from kvcli.api.port import iter_keys

    print("before:", uptime())
    work = Path(tempfile.mkdtemp(prefix="kvcli-bench-copy-"))
    server = None
    busy: subprocess.Popen | None = None
    try:
        env = dict(os.environ, KVCLI_CONFIG_DIR=str(work / "config"), KVCLI_DATA_DIR=str(work / "data"),
                   PYTHONPATH=str(ROOT), KVCLI_NO_PROGRESS="1")
        for name in ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "KVCLI_PROFILE"):
            env.pop(name, None)
        fill(work / "data", args.keys)
        server, url = start_server([sys.executable, "-m", "kvcli"], dict(os.environ, PYTHONPATH=str(ROOT)),
                                   str(work / "served"), TOKEN)
        kv = kvcli_cmd()
        subprocess.run([*kv, "-q", "profile", "create", "served", "--token", TOKEN, "--endpoint", url], env=env,
                       check=True)
        api = HttpAdapter(url, TOKEN)

        def check(name: str) -> None:
            sid = api.find_store(name).id
            n = sum(len(p.items) for p in iter_keys(api, sid))
            if n != args.keys:
                raise SystemExit(f"{name} holds {n} keys, expected {args.keys}")

        if args.busy:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        copies: list[float] = []
        twos: list[float] = []
        rss_copy: list[int] = []
        rss_two: list[int] = []
        for r in range(args.runs):
            api.create_store(f"copy-{r}")
            api.create_store(f"two-{r}")
            dt, rss = run([*kv, "--local", "-q", "kv-store", "copy", "--from", "src", "--to-profile", "served",
                           "--to", f"copy-{r}"], env, CPU["copy"])
            check(f"copy-{r}")
            copies.append(dt)
            rss_copy.append(rss)
            out = work / f"export-{r}.ndjson"
            t_exp, rss_exp = run([*kv, "--local", "-q", "kv-store-entry", "export", "--store-name", "src", "-O",
                                  str(out)], env, CPU["two"])
            t_imp, rss_imp = run([*kv, "-o", "served", "-q", "kv-store-entry", "create", "--store-name", f"two-{r}",
                                  "--file", str(out)], env, CPU["two"])
            check(f"two-{r}")
            twos.append(t_exp + t_imp)
            rss_two.append(max(rss_exp, rss_imp))
            print(f"run {r + 1}: copy {dt:.2f}s ({rss / 1024:.0f} MiB); export {t_exp:.2f}s + import {t_imp:.2f}s "
                  f"= {t_exp + t_imp:.2f}s")
        mc, mt = statistics.median(copies), statistics.median(twos)
        print(f"{args.keys:,} keys, median of {args.runs}: copy {mc:.2f}s, export+import {mt:.2f}s, "
              f"ratio {mc / mt:.2f}x (target <= 0.7x){' (one core kept busy)' if args.busy else ''}")
        c_cpu = statistics.median(CPU["copy"])
        t_cpu = statistics.median([a + b for a, b in zip(CPU["two"][::2], CPU["two"][1::2], strict=True)])
        print(f"client CPU (user + system), median: copy {c_cpu:.2f}s, export+import {t_cpu:.2f}s, "
              f"ratio {c_cpu / t_cpu:.2f}x (less sensitive to a busy machine than wall time)")
        print(f"peak RSS: copy {max(rss_copy) / 1024:.0f} MiB, export/import {max(rss_two) / 1024:.0f} MiB")
        api.close()
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
        print("after:", uptime())


if __name__ == "__main__":
    main()
