"""Peak memory of bulk import and export (issue 5, target: flat, under 150 MB for 1,000,000 entries).

Each measured command runs as its own child process; its peak resident set size is read from ``ru_maxrss`` of
``os.wait4``. The same commands at a tenth of the size show that memory does not grow with the input. Measured:

  baseline        `kvcli --version` (the interpreter plus kvcli's imports)
  import ndjson   `kvcli --local kv-store-entry create --file big.ndjson` (embedded backend)
  import wrangler `… create --file big.json` (one JSON array, parsed incrementally)
  export ndjson   `kvcli --local kv-store-entry export -O out.ndjson`

Usage: python benchmarks/bulk_memory.py [--entries 1000000] [--value-bytes 100] [--skip-wrangler]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 150


def make_inputs(work: Path, n: int, value_bytes: int, wrangler: bool) -> tuple[Path, Path | None]:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    nd = work / f"in-{n}.ndjson"
    wr = work / f"in-{n}.json" if wrangler else None
    with open(nd, "w") as f1, (open(wr, "w") if wr else open(os.devnull, "w")) as f2:
        f2.write("[\n")
        for i in range(n):
            text = "".join(rng.choices(alphabet, k=value_bytes))
            key = f"key-{i:07d}"
            f1.write(json.dumps({"key": key, "value": base64.b64encode(text.encode()).decode()}) + "\n")
            f2.write(("" if i == 0 else ",\n") + json.dumps({"key": key, "value": text}))
        f2.write("\n]\n")
    return nd, wr


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-800:]}")
    return dt, usage.ru_maxrss / 1024  # KiB on Linux


def measure(work: Path, n: int, value_bytes: int, wrangler: bool) -> dict[str, tuple[float, float]]:
    nd, wr = make_inputs(work, n, value_bytes, wrangler)
    data = work / f"data-{n}"
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ, KVCLI_DATA_DIR=str(data), KVCLI_CONFIG_DIR=str(data / "cfg"), PYTHONPATH=str(ROOT),
               KVCLI_NO_PROGRESS="1")
    kv = [sys.executable, "-m", "kvcli", "--local", "-q"]
    out: dict[str, tuple[float, float]] = {}
    out["baseline"] = run([sys.executable, "-m", "kvcli", "--version"], env)
    subprocess.run([*kv, "kv-store", "create", "--name", "a"], env=env, check=True, stdout=subprocess.DEVNULL)
    out["import ndjson"] = run([*kv, "kv-store-entry", "create", "--store-name", "a", "--file", str(nd)], env)
    if wr is not None:
        subprocess.run([*kv, "kv-store", "create", "--name", "w"], env=env, check=True, stdout=subprocess.DEVNULL)
        out["import wrangler"] = run([*kv, "kv-store-entry", "create", "--store-name", "w", "--file", str(wr)], env)
    exported = work / f"out-{n}.ndjson"
    out["export ndjson"] = run([*kv, "kv-store-entry", "export", "--store-name", "a", "-O", str(exported)], env)
    lines = sum(1 for _ in open(exported, "rb"))
    assert lines == n, (lines, n)
    for p in (nd, wr, exported):
        if p is not None:
            p.unlink()
    shutil.rmtree(data, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--skip-wrangler", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kvcli-mem-"))
    try:
        small_n = max(1, args.entries // 10)
        small = measure(work, small_n, args.value_bytes, not args.skip_wrangler)
        big = measure(work, args.entries, args.value_bytes, not args.skip_wrangler)
        print(f"peak RSS (ru_maxrss of each child process); values of {args.value_bytes} B; "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"{'command':16} {small_n:>10,} entries {args.entries:>12,} entries   growth   time (big)")
        worst = 0.0
        for name in big:
            (_, m_small), (t_big, m_big) = small[name], big[name]
            worst = max(worst, m_big)
            print(f"{name:16} {m_small:13.1f} MB {m_big:15.1f} MB {m_big / m_small:7.2f}x {t_big:9.1f} s")
        print(f"largest peak {worst:.1f} MB (target < {LIMIT_MB} MB): {'OK' if worst < LIMIT_MB else 'OVER'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
