"""Helpers shared by the whole-process benchmarks (startup.py, commands.py, server.py).

Not a test module and not part of kvcli: the benchmark scripts import it as a sibling (`python benchmarks/X.py` puts
this directory first on sys.path).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
#: environment variables of the caller that would point a tool somewhere else than the benchmark's own server
FOREIGN_VARS = ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "FASTLY_ACCOUNT_ENDPOINT", "KVCLI_PROFILE",
                "FASTLY_DEBUG_MODE", "SSL_CERT_FILE", "SSL_CERT_DIR")  # fmt: skip


#: for the official CLI: its update check (on every run, to developer.fastly.com) goes to a closed loopback port, so
#: a benchmark never leaves the machine; Go never proxies loopback addresses, so its API calls are not affected
OFFLINE_ENV = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}


def find_fastly(explicit: str | None) -> str | None:
    """The official binary: explicit, $KVCLI_FASTLY_BIN, the npm package under .tools/, else `fastly` on PATH."""
    bundled = sorted(ROOT.glob(".tools/node_modules/@fastly/cli-*/fastly"))
    for cand in (explicit, os.environ.get("KVCLI_FASTLY_BIN"), *bundled):
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


def bench_env(tmp: Path, *, no_pyc: bool = False) -> dict[str, str]:
    """This process's environment with kvcli's directories and HOME in ``tmp`` and nothing pointing elsewhere.

    Python byte-code is cached in a PYTHONPYCACHEPREFIX under ``tmp``, as for an installed wheel, even when the caller
    sets PYTHONDONTWRITEBYTECODE (``no_pyc`` measures without a cache).
    """
    env = dict(os.environ)
    env.update(
        KVCLI_DATA_DIR=str(tmp / "data"), KVCLI_CONFIG_DIR=str(tmp / "config"), HOME=str(tmp / "home"), NO_COLOR="1"
    )
    for k in FOREIGN_VARS:
        env.pop(k, None)
    if no_pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    return env


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
    """Labelled commands run round-robin: run 1 of every command, then run 2 of every command, …

    so a load change on a shared machine hits all of them alike.
    """

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process ``pid`` and of its running child processes (`local serve`'s batch
    writer; Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        total += cpu_seconds(child)
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def start_server(
    kv: list[str], env: dict[str, str], data_dir: str, token: str | None, *, log: IO[bytes] | None = None
) -> tuple[subprocess.Popen, str]:
    """`kvcli local serve` on a free loopback port; returns (process, URL). ``log`` receives its access log."""
    cmd = kv + ["local", "serve", "--port", "0", "--data-dir", data_dir]
    if token:
        cmd += ["--token", token]
    if log is not None:
        cmd.append("--access-log")
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL)
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip()  # the URL, once it listens
    if not url.startswith("http://"):
        server.terminate()
        raise SystemExit("kvcli local serve did not start")
    return server, url


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server this benchmark started and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
