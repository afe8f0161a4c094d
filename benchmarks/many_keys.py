"""Metadata of many keys over HTTP: one kvcli process vs a shell loop of one process per key (issue 15).

For each store size (default 500 and 10,000 keys, values of 16 bytes, metadata on every key) against one
`kvcli local serve` on loopback, it times, whole process, output to /dev/null:

  list --long          kvcli kv-store-entry list -s S --long --output-format ndjson
  describe --keys-file kvcli kv-store-entry describe -s S --keys-file KEYS     (KEYS: every key, one per line)
  get --keys-file      kvcli kv-store-entry get -s S --keys-file KEYS
  loop kvcli           sh: kvcli kv-store-entry list -s S, then `kvcli kv-store-entry describe -s S -k "$k" --json`
                       for each key (what a prune script did before --long)
  loop official        the same loop with the official CLI: `fastly kv-store-entry describe --store-id S --key "$k"`
                       (its update check sent to a closed loopback port: it never leaves the machine)

The loops run over the first --sample keys (default 500) when the store holds more, and their time is extrapolated
linearly to the whole store (one process per key costs the same for every key); the output says which figures are
extrapolated. Ratios are against the kvcli loop. --concurrency is passed to the single-process commands (kvcli's
default is 16). With --rtt-ms N every HTTP request goes through benchmarks/latency_proxy.py (HTTPS, N ms of round
trip), which is where a per-key loop hurts most.

Usage: python benchmarks/many_keys.py [--sizes 500,10000] [--sample 500] [--runs 1] [--concurrency N]
                                      [--rtt-ms 0] [--fastly PATH] [--no-official] [--kvcli COMMAND] [--dry-run]
"""

from __future__ import annotations

import argparse
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

from _common import OFFLINE_ENV, bench_env, find_fastly, kvcli_cmd, start_server, stop

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
LOOP_KVCLI = 'while IFS= read -r k; do {kv} -q kv-store-entry describe -s "$1" -k "$k" --json; done < "$2"'
LOOP_OFFICIAL = 'while IFS= read -r k; do {fastly} kv-store-entry describe --store-id "$1" --key "$k" -q; done < "$2"'


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,10000", help="store sizes, comma-separated (default 500,10000)")
    ap.add_argument("--sample", type=int, default=500, help="keys the per-key loops run over at most (default 500)")
    ap.add_argument("--runs", type=int, default=1, help="timed runs of each single-process command (median)")
    ap.add_argument("--concurrency", type=int, default=None, help="--concurrency for kvcli (default: kvcli's 16)")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="go through the latency proxy with this RTT (HTTPS)")
    ap.add_argument("--fastly", default=None, help="path of the official fastly binary")
    ap.add_argument("--no-official", action="store_true", help="skip the official CLI's loop")
    ap.add_argument("--kvcli", default=None, help="the kvcli command to time, e.g. 'python -m kvcli'")
    ap.add_argument("--dry-run", action="store_true", help="print what would be timed, run nothing")
    return ap


def single_commands(kv: list[str], store: str, keys_file: str, concurrency: int | None) -> dict[str, list[str]]:
    extra = ["--concurrency", str(concurrency)] if concurrency else []
    return {
        "list --long": [*kv, "-q", "kv-store-entry", "list", "-s", store, "--long", "--output-format", "ndjson",
                        *extra],
        "describe --keys-file": [*kv, "-q", "kv-store-entry", "describe", "-s", store, "--keys-file", keys_file,
                                 *extra],
        "get --keys-file": [*kv, "-q", "kv-store-entry", "get", "-s", store, "--keys-file", keys_file, *extra],
    }  # fmt: skip


def loop_commands(kv: list[str], fastly: str | None, store: str, sample_file: str) -> dict[str, list[str]]:
    """The per-key loops: one listing, then one process per key of the sample file ($1 store, $2 file)."""
    kv_sh = shlex.join(kv)
    loops = {"loop kvcli": ["sh", "-c", f'{kv_sh} -q kv-store-entry list -s "$1" > /dev/null && '
                            + LOOP_KVCLI.format(kv=kv_sh), "sh", store, sample_file]}  # fmt: skip
    if fastly:
        fq = shlex.quote(fastly)
        loops["loop official"] = ["sh", "-c", f'{fq} kv-store-entry list --store-id "$1" -q > /dev/null && '
                                  + LOOP_OFFICIAL.format(fastly=fq), "sh", store, sample_file]  # fmt: skip
    return loops


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr.decode()[-800:]}")
    return took


def fill(kv: list[str], env: dict[str, str], tmp: Path, n: int) -> tuple[str, Path]:
    """A store of ``n`` keys (written with one bulk import) and the file listing them."""
    out = subprocess.run([*kv, "-q", "kv-store", "create", "-n", f"bench-{n}", "--json"], env=env,
                         capture_output=True, check=True, text=True)  # fmt: skip
    store = json.loads(out.stdout)["StoreID"]
    keys = [f"user/{i:06d}" for i in range(n)]
    value = base64.b64encode(b"0123456789abcdef").decode()
    data = tmp / f"fill-{n}.ndjson"
    data.write_text("".join(json.dumps({"key": k, "value": value, "metadata": f"owner={i % 50}"}) + "\n"
                            for i, k in enumerate(keys)))  # fmt: skip
    subprocess.run([*kv, "-q", "kv-store-entry", "create", "-s", store, "--file", str(data)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    keys_file = tmp / f"keys-{n}.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    return store, keys_file


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    fastly = None if args.no_official else find_fastly(args.fastly)
    kv = shlex.split(args.kvcli) if args.kvcli else kvcli_cmd()
    if args.dry_run:
        for n in sizes:
            sample = min(n, args.sample)
            for label, cmd in single_commands(kv, "<store>", "<keys>", args.concurrency).items():
                print(f"{n:>7,} {label:22s} {shlex.join(cmd)}")
            for label, cmd in loop_commands(kv, fastly, "<store>", "<sample>").items():
                print(f"{n:>7,} {label:22s} over {sample:,} keys{' (extrapolated)' if sample < n else ''}: "
                      f"{shlex.join(cmd)}")  # fmt: skip
        return
    tmp = Path(tempfile.mkdtemp(prefix="kvcli-many-keys-"))
    procs: list[subprocess.Popen] = []
    try:
        env = bench_env(tmp)
        server, url = start_server(kv, env, str(tmp / "served"), TOKEN)
        procs.append(server)
        if args.rtt_ms:
            cert = tmp / "proxy-cert.pem"
            proxy = subprocess.Popen(
                [sys.executable, str(HERE / "latency_proxy.py"), "--upstream", url, "--rtt-ms", str(args.rtt_ms),
                 "--cert-file", str(cert)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(proxy)
            assert proxy.stdout is not None
            url = proxy.stdout.readline().decode().strip()
            if not url.startswith("https://"):
                raise SystemExit("the latency proxy did not start")
            env["SSL_CERT_FILE"] = str(cert)
        http_env = dict(env, FASTLY_API_TOKEN=TOKEN, FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url)
        official_env = dict(http_env, **OFFLINE_ENV)
        results: dict[int, dict[str, tuple[float, bool]]] = {}
        for n in sizes:
            store, keys_file = fill(kv, http_env, tmp, n)
            sample = min(n, args.sample)
            sample_file = tmp / f"sample-{n}.txt"
            sample_file.write_text("".join(keys_file.read_text().splitlines(keepends=True)[:sample]))
            row: dict[str, tuple[float, bool]] = {}
            for label, cmd in single_commands(kv, store, str(keys_file), args.concurrency).items():
                row[label] = (statistics.median(timed(cmd, http_env) for _ in range(max(1, args.runs))), False)
            for label, cmd in loop_commands(kv, fastly, store, str(sample_file)).items():
                took = timed(cmd, official_env if label == "loop official" else http_env)
                row[label] = (took * n / sample, sample < n)
            results[n] = row
        load = os.getloadavg()
        link = f"HTTPS through the latency proxy, RTT {args.rtt_ms:g} ms" if args.rtt_ms else "plain HTTP on loopback"
        print(f"kvcli local serve, {link}; nproc {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} "
              f"{load[2]:.2f} at the end; kvcli: {shlex.join(kv)}; official: {fastly or 'not run'}")  # fmt: skip
        print(f"{'keys':>7s} {'command':22s} {'seconds':>10s} {'vs loop kvcli':>14s}")
        for n, row in results.items():
            base = row["loop kvcli"][0]
            for label, (secs, extrapolated) in row.items():
                mark = " (extrapolated from " + f"{min(n, args.sample):,} keys)" if extrapolated else ""
                print(f"{n:>7,} {label:22s} {secs:10.2f} {base / secs:13.1f}x{mark}")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
