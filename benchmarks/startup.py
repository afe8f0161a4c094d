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
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.5


# the official CLI checks for updates on every run: point that at a closed loopback port (Go never proxies loopback)
OFFLINE_PROXY = "http://127.0.0.1:9"

def find_fastly(explicit: str | None) -> str | None:
    bundled = ROOT / ".tools/node_modules/@fastly/cli-linux-x64/fastly"
    for cand in (explicit, os.environ.get("KVCLI_FASTLY_BIN"), bundled):
        if cand and Path(cand).is_file():
            return str(cand)
    return shutil.which("fastly")


def kvcli_cmd() -> list[str]:
    """The console script installed for this interpreter (what users run), else `python -m kvcli`."""
    script = Path(sysconfig.get_path("scripts")) / "kvcli"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "kvcli"]


def clean_venv(where: Path) -> tuple[str, list[str]]:
    """A venv that sees this interpreter's packages and this checkout, but runs none of their .pth start-up hooks.

    An editable install adds a .pth import hook to every interpreter start, and some machines add their own (e.g. a
    certificate bundle patch); a user's `pip install kvcli` has neither. The venv's only .pth lists directories, which
    costs nothing. Returns (python, kvcli console script).
    """
    import site
    import venv

    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    dirs = [str(ROOT), *site.getsitepackages()]
    (Path(purelib) / "kvcli-benchmark.pth").write_text("\n".join(dirs) + "\n")
    script = where / "bin" / "kvcli"
    script.write_text(f"#!{python}\nimport re\nimport sys\nfrom kvcli.entry import main\n"
                      "if __name__ == '__main__':\n    sys.exit(main())\n")  # fmt: skip
    script.chmod(0o755)
    return str(python), [str(script)]


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run; the output is discarded, a failure stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(self) -> None:
        self.cases: list[tuple[str, list[str], dict[str, str]]] = []
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def add(self, label: str, cmd: list[str], env: dict[str, str]) -> None:
        self.cases.append((label, cmd, env))
        self.wall[label], self.cpu[label] = [], []

    def run(self, runs: int, warmup: int) -> None:
        for i in range(warmup + runs):
            for label, cmd, env in self.cases:
                wall, cpu = run_once(cmd, env)
                if i >= warmup:
                    self.wall[label].append(wall)
                    self.cpu[label].append(cpu)

    def med(self, label: str) -> float:
        return statistics.median(self.wall[label])

    def cpu_med(self, label: str) -> float:
        return statistics.median(self.cpu[label])


def start_server(kv: list[str], env: dict[str, str], data_dir: str, token: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        kv + ["local", "serve", "--port", "0", "--data-dir", data_dir, "--token", token],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip()  # the URL, once it listens
    if not url.startswith("http://"):
        server.terminate()
        raise SystemExit("kvcli local serve did not start")
    return server, url


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
    env = dict(os.environ)
    env.update(
        KVCLI_DATA_DIR=str(tmp / "data"), KVCLI_CONFIG_DIR=str(tmp / "config"), HOME=str(tmp / "home"), NO_COLOR="1"
    )
    for k in ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "FASTLY_ACCOUNT_ENDPOINT", "KVCLI_PROFILE",
              "FASTLY_DEBUG_MODE"):  # fmt: skip
        env.pop(k, None)
    if args.no_pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    (tmp / "home").mkdir()
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
            # its update check (every run) goes to a closed loopback port: nothing leaves the machine
            offline = dict(http_env, HTTPS_PROXY=OFFLINE_PROXY, HTTP_PROXY=OFFLINE_PROXY, NO_PROXY="127.0.0.1")
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
