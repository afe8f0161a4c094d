"""The six everyday commands, whole process: the official Fastly CLI vs kvcli over HTTP vs kvcli embedded (issue 14).

For each of

  kv-store list                    kv-store-entry get -s S -k k00        kv-store-entry describe -s S -k k00
  kv-store-entry list -s S (10 keys)   kv-store-entry create -s W -k K --value V   kv-store-entry delete -s W -k K

it times, round-robin (run 1 of every command, then run 2, …, so a load change on a shared machine hits all alike):

  official  `fastly … -q`, FASTLY_API_ENDPOINT and FASTLY_ACCOUNT_ENDPOINT at one `kvcli local serve`, FASTLY_API_TOKEN,
            a scratch HOME
  http      `kvcli -q …` with the same variables, against the same server
  embedded  `kvcli -q …` on the same data directory (KVCLI_DATA_DIR), no server

and prints the wall-time medians with the ratios against the official CLI measured in the same run. Every tool
creates and deletes its own key, so each round leaves the stores as it found them.

With --rtt-ms N both HTTP tools go through benchmarks/latency_proxy.py instead: HTTPS on loopback, N ms of round
trip, a throw-away certificate trusted through SSL_CERT_FILE (the official CLI's account endpoint too). The embedded
column stays local: it is what a user far from the API would run instead.

Afterwards, unless --no-count, each command runs once more against the server's access log (`--access-log`) and the
requests each tool sent are listed, with the connections they used (distinct client ports).

kvcli runs through its console script (next to this Python), else `python -m kvcli`; --clean-venv runs it in a venv
without this machine's .pth start-up hooks, as a user's `pip install .` would (use it for figures you publish).

Usage: python benchmarks/commands.py [--runs 20] [--warmup 2] [--rtt-ms 0] [--clean-venv] [--fastly PATH]
                                     [--kvcli COMMAND] [--json-out FILE] [--no-count] [--dry-run]
The official binary: --fastly, $KVCLI_FASTLY_BIN, .tools/node_modules/@fastly/cli-linux-x64/fastly, or `fastly` on PATH.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from _common import OFFLINE_ENV, Bench, bench_env, clean_venv, find_fastly, kvcli_cmd, start_server, stop

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
TOOLS = ("official", "http", "embedded")
COMMANDS = (
    "kv-store list",
    "kv-store-entry get",
    "kv-store-entry describe",
    "kv-store-entry list",
    "kv-store-entry create",
    "kv-store-entry delete",
)
LIST_KEYS = 10


@dataclass
class Case:
    command: str
    tool: str
    argv: list[str]
    env: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.command} [{self.tool}]"


def command_args(command: str, tool: str, store: str, write_store: str) -> list[str]:
    """The arguments (after the program) of one command; create/delete use a key of the tool's own."""
    key = f"new-{tool}"
    return {
        "kv-store list": ["kv-store", "list"],
        "kv-store-entry get": ["kv-store-entry", "get", "-s", store, "-k", "k00"],
        "kv-store-entry describe": ["kv-store-entry", "describe", "-s", store, "-k", "k00"],
        "kv-store-entry list": ["kv-store-entry", "list", "-s", store],
        "kv-store-entry create": ["kv-store-entry", "create", "-s", write_store, "-k", key, "--value", "hello world"],
        "kv-store-entry delete": ["kv-store-entry", "delete", "-s", write_store, "-k", key],
    }[command]


def plan(
    fastly: str | None,
    kv: list[str],
    envs: dict[str, dict[str, str]],
    store: str,
    write_store: str,
) -> list[Case]:
    """Every (command, tool) case in run order: all creates before all deletes within a round."""
    cases = []
    for command in COMMANDS:
        for tool in TOOLS:
            if tool == "official" and not fastly:
                continue
            args = command_args(command, tool, store, write_store)
            argv = [fastly, *args, "-q"] if tool == "official" else [*kv, "-q", *args]
            cases.append(Case(command, tool, argv, envs[tool]))  # type: ignore[list-item]
    return cases


# ---------------------------------------------------------------------------------------------------- request counts
LOG_LINE = re.compile(r'(\d+\.\d+\.\d+\.\d+):(\d+) - "(\S+) (\S+) HTTP/[\d.]+" (\d+)')


def mark(server_url: str, n: int) -> None:
    """A request the access log shows as a boundary between two commands' requests."""
    parts = urlsplit(server_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", f"/benchmark-mark/{n}")
        conn.getresponse().read()
    finally:
        conn.close()


def wait_for_mark(log: Path, n: int, timeout: float = 10.0) -> list[str]:
    """The log's lines up to the mark ``n`` (polling the file until the server wrote it)."""
    needle = f"/benchmark-mark/{n} "
    end = time.monotonic() + timeout
    while True:
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if needle in line:
                return lines[:i]
        if time.monotonic() > end:
            raise SystemExit(f"the access log never showed mark {n}")
        time.sleep(0.02)


def count_requests(cases: list[Case], server_url: str, log: Path, ids: dict[str, str]) -> dict[str, list[str]]:
    """Run each case once; the requests (method, path with ids shortened) and connections it made, from the log."""
    found: dict[str, list[str]] = {}
    mark(server_url, 0)
    seen = len(wait_for_mark(log, 0)) + 1
    for n, case in enumerate(cases, start=1):
        subprocess.run(case.argv, env=case.env, check=True, capture_output=True)
        mark(server_url, n)
        lines = wait_for_mark(log, n)
        requests = []
        for line in lines[seen:]:
            m = LOG_LINE.search(line)
            if m and "/benchmark-mark/" not in m.group(4):
                path = m.group(4)
                for name, value in ids.items():
                    path = path.replace(value, name)
                path = path.replace("/realms/fastly/.well-known/openid-configuration", "<OIDC discovery>")
                requests.append((m.group(2), f"{m.group(3)} {path} {m.group(5)}"))
        seen = len(lines) + 1
        ports = {port for port, _ in requests}
        found[case.label] = [f"{len(requests)} requests, {len(ports)} connections"] + [r for _, r in requests]
    return found


# ---------------------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="timed runs of every case (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="go through the latency proxy with this RTT (HTTPS)")
    ap.add_argument("--fastly", default=None, help="path of the official fastly binary")
    ap.add_argument("--kvcli", default=None, help="the kvcli command to time, e.g. 'python path/to/script'")
    ap.add_argument(
        "--clean-venv", action="store_true", help="run kvcli in a venv without this machine's .pth hooks"
    )
    ap.add_argument("--no-pyc", action="store_true", help="do not cache byte-code (as with PYTHONDONTWRITEBYTECODE)")
    ap.add_argument("--no-count", action="store_true", help="skip counting each command's requests")
    ap.add_argument("--json-out", type=Path, help="also write the medians (ms) and request counts as JSON")
    ap.add_argument("--dry-run", action="store_true", help="print the commands that would be timed, run nothing")
    return ap


def report(cases: list[Case], b: Bench, counts: dict[str, list[str]], rtt: float) -> dict:
    have_official = any(c.tool == "official" for c in cases)
    link = f"HTTPS through the latency proxy, RTT {rtt:g} ms" if rtt else "plain HTTP on loopback"
    print(f"HTTP tools: {link}; wall-time medians (CPU medians in brackets)")
    head = f"{'command':26s} {'official':>17s} {'kvcli HTTP':>17s} {'':>6s} {'kvcli embedded':>17s} {'':>6s}"
    print(head)
    result: dict = {"rtt_ms": rtt, "medians_ms": {}, "cpu_medians_ms": {}, "requests": counts}
    for command in COMMANDS:
        row = f"{command:26s}"
        official = b.med(f"{command} [official]") if have_official else None
        for tool in TOOLS:
            label = f"{command} [{tool}]"
            if label not in b.wall:
                row += f" {'-':>17s}" + ("" if tool == "official" else f" {'':>6s}")
                continue
            med, cpu = b.med(label), b.cpu_med(label)
            result["medians_ms"][label] = round(med * 1000, 2)
            result["cpu_medians_ms"][label] = round(cpu * 1000, 2)
            row += f" {med * 1000:7.1f} ({cpu * 1000:5.1f}) ms"
            if tool != "official":
                row += f" {med / official:5.2f}x" if official else f" {'':>6s}"
        print(row)
    if counts:
        print("\nrequests per command (from the server's access log):")
        for case in cases:
            if case.tool == "embedded":
                continue
            lines = counts.get(case.label, [])
            print(f"  {case.label:38s} {lines[0] if lines else '?'}")
            for line in lines[1:]:
                print(f"      {line}")
        embedded = [c.label for c in cases if c.tool == "embedded" and counts.get(c.label, ["0"])[0][0] != "0"]
        if embedded:
            print(f"  (unexpected: embedded commands reached the server: {embedded})")
    return result


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    fastly = find_fastly(args.fastly)
    kv = shlex.split(args.kvcli) if args.kvcli else kvcli_cmd()
    if args.dry_run:
        envs = {tool: {} for tool in TOOLS}
        for case in plan(fastly or "fastly", kv, envs, "<store>", "<write-store>"):
            print(f"{case.label:38s} {shlex.join(case.argv)}")
        through = f", through a {args.rtt_ms:g} ms proxy" if args.rtt_ms else ""
        print(f"{args.runs} runs after {args.warmup} warm-ups{through}")
        return
    if not fastly:
        print("official CLI not found (--fastly or $KVCLI_FASTLY_BIN): its column and the ratios are skipped")

    tmp = Path(tempfile.mkdtemp(prefix="kvcli-commands-"))
    procs: list[subprocess.Popen] = []
    try:
        env = bench_env(tmp, no_pyc=args.no_pyc)
        if args.clean_venv:
            _, kv = clean_venv(tmp / "venv")

        def kvcli_json(*a: str) -> dict:
            out = subprocess.run([*kv, "-q", *a, "--json"], env=env, capture_output=True, check=True, text=True)
            return json.loads(out.stdout)

        store = kvcli_json("kv-store", "create", "-n", "bench")["StoreID"]
        write_store = kvcli_json("kv-store", "create", "-n", "bench-write")["StoreID"]
        value = base64.b64encode(b"hello world").decode()
        lines = "".join(json.dumps({"key": f"k{i:02d}", "value": value}) + "\n" for i in range(LIST_KEYS))
        (tmp / "keys.ndjson").write_text(lines)
        subprocess.run([*kv, "-q", "kv-store-entry", "create", "-s", store, "--file", str(tmp / "keys.ndjson")],
                       env=env, check=True, capture_output=True)  # fmt: skip

        log_path = tmp / "access.log"
        log = log_path.open("wb")
        server, server_url = start_server(kv, env, env["KVCLI_DATA_DIR"], TOKEN, log=log)
        procs.append(server)
        url = server_url
        http_env = dict(env, FASTLY_API_TOKEN=TOKEN)
        if args.rtt_ms:
            cert = tmp / "proxy-cert.pem"
            proxy = subprocess.Popen(
                [sys.executable, str(HERE / "latency_proxy.py"), "--upstream", server_url, "--rtt-ms",
                 str(args.rtt_ms), "--cert-file", str(cert)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(proxy)
            assert proxy.stdout is not None
            url = proxy.stdout.readline().decode().strip()
            if not url.startswith("https://"):
                raise SystemExit("the latency proxy did not start")
            http_env["SSL_CERT_FILE"] = str(cert)  # the only CA either client trusts: proves both use it
        http_env.update(FASTLY_API_ENDPOINT=url, FASTLY_ACCOUNT_ENDPOINT=url)
        envs = {"official": dict(http_env, **OFFLINE_ENV), "http": http_env, "embedded": env}

        cases = plan(fastly, kv, envs, store, write_store)
        b = Bench()
        for case in cases:
            b.add(case.label, case.argv, case.env)
        t0 = time.monotonic()
        b.run(args.runs, args.warmup)
        took = time.monotonic() - t0
        ids = {"{S}": store, "{W}": write_store}
        counts = {} if args.no_count else count_requests(cases, server_url, log_path, ids)

        load = os.getloadavg()
        print(f"{args.runs} runs of each after {args.warmup} warm-up rounds, {took:.0f} s; nproc {os.cpu_count()}, "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")  # fmt: skip
        print(f"kvcli: {shlex.join(kv)}" + (" (clean venv: no .pth start-up hooks)" if args.clean_venv else ""))
        print(f"official: {fastly}\n")
        result = report(cases, b, counts, args.rtt_ms)
        if args.json_out:
            result["runs"], result["load_average"] = args.runs, load
            args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
