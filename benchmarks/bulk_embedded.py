"""Bulk import into the embedded backend vs a raw sqlite3 executemany of the same rows (issue 5, target <= 3x).

One run of this script measures, interleaved, several times each:

  raw        a bare sqlite3 executemany of the already-decoded rows into the same table, in one transaction, with the
             engine's durability settings (WAL, synchronous=FULL); the timer covers connect + insert + commit only
  raw+parse  the same, plus reading the NDJSON file and base64-decoding the values (a minimal end-to-end script)
  library    kvcli's pipeline in-process: kvcli.bulk.importer.Importer over the LocalAdapter (parse, validate,
             chunk, one transaction per chunk, resume journal)
  cli        `kvcli --local kv-store-entry create --file X -q` as a subprocess (includes interpreter start-up)

and prints medians and the ratios against `raw`.

Usage: python benchmarks/bulk_embedded.py [--entries 100000] [--value-bytes 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMA = (
    "CREATE TABLE items (store_id TEXT NOT NULL, key TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '', "
    "generation INTEGER NOT NULL, size INTEGER NOT NULL, last_modified INTEGER NOT NULL, expires_at REAL, "
    "value BLOB NOT NULL, UNIQUE (store_id, key))"
)


def make_ndjson(path: Path, n: int, value_bytes: int) -> None:
    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    with open(path, "w") as fh:
        for i in range(n):
            value = "".join(rng.choices(alphabet, k=value_bytes)).encode()
            fh.write(json.dumps({"key": f"key-{i:07d}", "value": base64.b64encode(value).decode()}) + "\n")


def read_rows(path: Path) -> list[tuple]:
    rows = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            obj = json.loads(line)
            value = base64.b64decode(obj["value"])
            rows.append(("store", obj["key"], "", i, len(value), 0, None, value))
    return rows


def raw_insert(db: Path, rows: list[tuple]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(SCHEMA)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()


def fresh(d: Path) -> Path:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def time_raw(work: Path, rows: list[tuple]) -> float:
    d = fresh(work / "raw")
    t0 = time.perf_counter()
    raw_insert(d / "raw.db", rows)
    return time.perf_counter() - t0


def time_raw_parse(work: Path, src: Path) -> float:
    d = fresh(work / "rawp")
    t0 = time.perf_counter()
    raw_insert(d / "raw.db", read_rows(src))
    return time.perf_counter() - t0


def time_library(work: Path, src: Path) -> tuple[float, int]:
    from kvcli.api.local import LocalAdapter
    from kvcli.bulk.batching import LOCAL_MAX_BYTES, LOCAL_MAX_ENTRIES
    from kvcli.bulk.importer import Importer, ImportOptions
    from kvcli.bulk.journal import Journal
    from kvcli.bulk.sources import NdjsonSource

    d = fresh(work / "lib")
    os.environ["KVCLI_DATA_DIR"] = str(d)
    api = LocalAdapter.open(d)
    sid = api.create_store("bench").id
    t0 = time.perf_counter()
    source = NdjsonSource(str(src))
    journal = Journal.for_input(target="bench", store_id=sid, fmt="ndjson", identity=source.identity())
    journal.start()
    report = Importer(api, sid, source, options=ImportOptions(LOCAL_MAX_ENTRIES, LOCAL_MAX_BYTES, 1),
                      journal=journal).run()
    dt = time.perf_counter() - t0
    api.close()
    return dt, report.written


def time_cli(work: Path, src: Path) -> float:
    d = fresh(work / "cli")
    env = dict(os.environ, KVCLI_DATA_DIR=str(d), KVCLI_CONFIG_DIR=str(d / "cfg"), PYTHONPATH=str(ROOT))
    kvcli = [sys.executable, "-m", "kvcli"]
    subprocess.run([*kvcli, "--local", "-q", "kv-store", "create", "--name", "bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    proc = subprocess.run([*kvcli, "--local", "-q", "kv-store-entry", "create", "--store-name", "bench", "--file",
                           str(src)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"kvcli failed: {proc.stderr.decode()[-800:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kvcli-bench-"))
    try:
        src = work / "in.ndjson"
        make_ndjson(src, args.entries, args.value_bytes)
        rows = read_rows(src)
        print(f"{args.entries:,} entries of {args.value_bytes} B; NDJSON {src.stat().st_size / 1e6:.1f} MB; "
              f"{args.runs} runs each, interleaved; load average {os.getloadavg()[0]:.2f}")
        times: dict[str, list[float]] = {"raw": [], "raw+parse": [], "library": [], "cli": []}
        for _ in range(args.runs):
            times["raw"].append(time_raw(work, rows))
            times["raw+parse"].append(time_raw_parse(work, src))
            dt, written = time_library(work, src)
            assert written == args.entries, written
            times["library"].append(dt)
            times["cli"].append(time_cli(work, src))
        base = statistics.median(times["raw"])
        print(f"{'':10} {'median s':>9} {'min s':>7} {'x raw':>6}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:10} {med:9.3f} {min(ts):7.3f} {med / base:6.2f}")
        print(f"ratio library/raw = {statistics.median(times['library']) / base:.2f} (target <= 3)")
        print(f"ratio cli/raw     = {statistics.median(times['cli']) / base:.2f} (includes interpreter start-up)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
