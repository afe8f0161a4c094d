"""Start-up benchmark: kvcli against the official Fastly CLI, in the same process tree, against the same server.

Measures, for many runs after warm-ups, the wall time and the CPU time (user + system, from wait4) of:

  kvcli --version                                   vs  fastly version
  kvcli kv-store-entry get        (embedded)        vs  fastly kv-store-entry get  (against `kvcli local serve`)
  kvcli kv-store-entry get        (HTTP to the same `kvcli local serve`)
  kvcli kv-store-entry get --json (embedded)
  kvcli kv-store-entry get        (embedded, the data in the platform's default directory: no KVCLI_DATA_DIR)

and, as floors, `python -S -c pass`, `python -c pass` and `python -c "import typer"`. Commands run round-robin
(run 1 of every command, then run 2 of every command, …) so a load change on a shared machine hits all of them alike.
It prints medians and the ratios; the target (issue 7) is kvcli's embedded get <= 2.5x the official CLI's get.

kvcli is run through its console script (next to this Python, not a pyenv shim, which is a shell script costing more
than kvcli itself), else `python -m kvcli`. Python byte-code is cached in a temporary PYTHONPYCACHEPREFIX, as for an
installed wheel, even when PYTHONDONTWRITEBYTECODE is set (--no-pyc measures without a cache).

Usage: python benchmarks/startup.py [--runs 40] [--fastly PATH] [--no-pyc] [--kvcli COMMAND] [--baseline COMMAND]
                                   [--clean-venv]
The official binary: --fastly, $KVCLI_FASTLY_BIN, .tools/node_modules/@fastly/cli-linux-x64/fastly, or `fastly` on PATH.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import OFFLINE_ENV, Bench, bench_env, clean_venv, find_fastly, kvcli_cmd, start_server

TARGET = 2.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--fastly", default=None, help="path of the official fastly binary")
    ap.add_argument("--no-pyc", action="store_true", help="do not cache byte-code (as with PYTHONDONTWRITEBYTECODE)")
    ap.add_argument("--kvcli", default=None, help="the kvcli command to time, e.g. 'python path/to/script'")
    ap.add_argument("--baseline", default=None, help="another kvcli command (e.g. an older checkout) timed alongside")
    ap.add_argument(
        "--clean-venv", action="store_true", help="run kvcli and Python in a venv without this machine's .pth hooks"
    )
    args = ap.parse_args()

    fastly = find_fastly(args.fastly)
    tmp = Path(tempfile.mkdtemp(prefix="kvcli-startup-"))
    env = bench_env(tmp, no_pyc=args.no_pyc)
    kv = shlex.split(args.kvcli) if args.kvcli else kvcli_cmd()
    py = sys.executable
    if args.clean_venv:
        py, kv = clean_venv(tmp / "venv")

    created = subprocess.run(kv + ["-q", "kv-store", "create", "-n", "bench", "--json"], env=env, capture_output=True,
                             check=True, text=True)  # fmt: skip
    store_id = json.loads(created.stdout)["StoreID"]
    subprocess.run(kv + ["-q", "kv-store-entry", "create", "-s", store_id, "-k", "k1", "--value", "hello world"],
                   env=env, check=True)  # fmt: skip

    # the same store where a user without KVCLI_* variables keeps it (the platform's directories under HOME)
    home_env = {k: v for k, v in env.items() if not k.startswith(("KVCLI_DATA_DIR", "KVCLI_CONFIG_DIR", "XDG_"))}
    created = subprocess.run(kv + ["-q", "kv-store", "create", "-n", "bench", "--json"], env=home_env,
                             capture_output=True, check=True, text=True)  # fmt: skip
    home_store = json.loads(created.stdout)["StoreID"]
    subprocess.run(kv + ["-q", "kv-store-entry", "create", "-s", home_store, "-k", "k1", "--value", "hello world"],
                   env=home_env, check=True)  # fmt: skip

    server, url = start_server(kv, env, env["KVCLI_DATA_DIR"], "bench")
    try:
        http_env = dict(env, FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url, FASTLY_API_TOKEN="bench")
        get = ["kv-store-entry", "get", "-s", store_id, "-k", "k1"]
        b = Bench()
        b.add("python -S -c pass", [py, "-S", "-c", "pass"], env)
        b.add("python -c pass", [py, "-c", "pass"], env)
        b.add("python -c 'import typer'", [py, "-c", "import typer"], env)
        b.add("kvcli --version", kv + ["--version"], env)
        b.add("kvcli get (embedded)", kv + get, env)
        b.add("kvcli get --json (embedded)", kv + get + ["--json"], env)
        b.add("kvcli get (embedded, default dirs)", kv + ["kv-store-entry", "get", "-s", home_store, "-k", "k1"],
              home_env)  # fmt: skip
        b.add("kvcli get (HTTP to local serve)", kv + get, http_env)
        if args.baseline:
            base = shlex.split(args.baseline)
            b.add("baseline --version", base + ["--version"], env)
            b.add("baseline get (embedded)", base + get, env)
        if fastly:
            offline = dict(http_env, **OFFLINE_ENV)  # its update check never leaves the machine
            b.add("fastly version", [fastly, "version", "-q"], offline)
            b.add("fastly kv-store-entry get", [fastly, *get, "-q"], offline)
        b.run(args.runs, args.warmup)

        print(f"{args.runs} runs each after {args.warmup} warm-ups; byte-code cache: {'off' if args.no_pyc else 'on'}")
        where = " (clean venv: no .pth start-up hooks)" if args.clean_venv else ""
        print(f"kvcli: {' '.join(kv)}; python: {py}{where}")
        print(f"{'command':36s} {'wall median':>12s} {'wall min':>9s} {'CPU median':>11s}")
        for label, _, _ in b.cases:
            print(f"{label:36s} {b.med(label) * 1000:9.1f} ms {min(b.wall[label]) * 1000:6.1f} ms "
                  f"{b.cpu_med(label) * 1000:8.1f} ms")  # fmt: skip
        print()
        g_local = b.med("kvcli get (embedded)")
        if fastly:
            fg = b.med("fastly kv-store-entry get")
            ratio = g_local / fg
            verdict = "meets" if ratio <= TARGET else "misses"
            fv = b.med("fastly version")
            print(f"kvcli --version / fastly version        : {b.med('kvcli --version') / fv:5.2f}x")
            print(f"kvcli get (embedded) / fastly get       : {ratio:5.2f}x   ({verdict} the target <= {TARGET}x)")
            print(f"kvcli get (HTTP) / fastly get           : {b.med('kvcli get (HTTP to local serve)') / fg:5.2f}x")
        else:
            print("official CLI not found (--fastly or $KVCLI_FASTLY_BIN): ratios against it skipped")
        floor = b.med("python -c pass")
        print(f"kvcli get (embedded) - python -c pass   : {(g_local - floor) * 1000:5.1f} ms of kvcli's own start-up")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
