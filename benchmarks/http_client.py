"""What one HTTP request costs a fresh Python process: httpx (what kvcli uses) against the standard library's
http.client (what a lighter client for single requests would use), issue 14.

Each case is a whole process (`python -c …`), timed round-robin with the others, wall and CPU medians:

  pass                   the interpreter alone
  httpx import           `import httpx` (its own CLI, httpx._main, and trio marked absent, as kvcli's process does)
  httpx Client (http)    + `httpx.Client(verify=False)`, as kvcli builds it for a plain-HTTP endpoint
  httpx Client (https)   + `httpx.Client()`: the TLS context with the CA bundle (SSL_CERT_FILE, else certifi)
  httpx GET              + one GET to a local server
  http.client import     `import http.client`
  http.client GET        + one GET on an HTTPConnection
  ssl context            `import ssl; ssl.create_default_context()` (what an https request with http.client adds)
  kvcli adapter          `kvcli.config.make_api` for an http:// endpoint (kvcli's whole HTTP stack, no request)
  kvcli httpx GET        + one `list_stores()` through it (httpx)
  kvcli light adapter    the same with the light session (`light=True`, as the click-free fast path asks)
  kvcli light GET        + one `list_stores()` through it

Usage: python benchmarks/http_client.py [--runs 20] [--warmup 2] [--python PATH]
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = "import sys; sys.modules['httpx._main'] = None; sys.modules['trio'] = None; "


def cases(url: str) -> dict[str, str]:
    base = url.split("/resources/", 1)[0]  # the endpoint: kvcli adds the path
    return {
        "pass": "pass",
        "httpx import": BLOCK + "import httpx",
        "httpx Client (http)": BLOCK + "import httpx; httpx.Client(verify=False)",
        "httpx Client (https)": BLOCK + "import httpx; httpx.Client()",
        "httpx GET": BLOCK + f"import httpx; httpx.Client(verify=False).get({url!r}).read()",
        "http.client import": "import http.client",
        "http.client GET": "import http.client, urllib.parse as u; p = u.urlsplit(" + repr(url) + "); "
        "c = http.client.HTTPConnection(p.hostname, p.port); c.request('GET', p.path); c.getresponse().read()",
        "ssl context": "import ssl; ssl.create_default_context()",
        "kvcli adapter": BLOCK + f"sys.path.insert(0, {str(ROOT)!r}); from kvcli.config import make_api, "
        f"resolve_target; make_api(resolve_target(endpoint={url!r}))",
        "kvcli httpx GET": BLOCK + f"sys.path.insert(0, {str(ROOT)!r}); from kvcli.config import make_api, "
        f"resolve_target; make_api(resolve_target(endpoint={base!r})).list_stores()",
        "kvcli light adapter": BLOCK + f"sys.path.insert(0, {str(ROOT)!r}); from kvcli.config import make_api, "
        f"resolve_target; make_api(resolve_target(endpoint={url!r}), light=True)",
        "kvcli light GET": BLOCK + f"sys.path.insert(0, {str(ROOT)!r}); from kvcli.config import make_api, "
        f"resolve_target; make_api(resolve_target(endpoint={base!r}), light=True).list_stores()",
    }


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b'{"data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--python", default=sys.executable, help="the interpreter to time (e.g. a clean venv's)")
    args = ap.parse_args(argv)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/resources/stores/kv"
    plan = cases(url)
    wall: dict[str, list[float]] = {name: [] for name in plan}
    cpu: dict[str, list[float]] = {name: [] for name in plan}
    try:
        for n in range(args.warmup + args.runs):
            for name, code in plan.items():
                started = time.perf_counter()
                proc = subprocess.Popen([args.python, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time, as the kernel accounted it
                elapsed = time.perf_counter() - started
                proc.returncode = os.waitstatus_to_exitcode(status)
                assert proc.stderr is not None
                errors = proc.stderr.read().decode(errors="replace")
                proc.stderr.close()
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed: {errors.strip()[-500:]}")
                if n >= args.warmup:
                    wall[name].append(elapsed * 1000)
                    cpu[name].append((usage.ru_utime + usage.ru_stime) * 1000)
    finally:
        server.shutdown()
    print(f"{args.runs} runs each after {args.warmup} warm-ups; python: {args.python}")
    print(f"{'case':24} {'wall median':>12} {'CPU median':>11}")
    for name in plan:
        print(f"{name:24} {statistics.median(wall[name]):9.1f} ms {statistics.median(cpu[name]):8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
