"""`kvcli local serve` on uvloop and httptools where they are installed, on asyncio and h11 where not (issue 14).

Both are dependencies wherever they have wheels; a platform without them (uvloop has none for Windows) gets the
pure-Python loop and parser, which must serve the same API. Long request headers are refused with either parser
(h11 has a limit of its own; httptools has none, so the server counts them).
"""

from __future__ import annotations

import importlib.util
import select
import socket
import subprocess
import sys

import httpx
import pytest

from kvcli.local import serve
from tests.conftest import subprocess_env

BLOCK = ("uvloop", "httptools")
HAVE_BOTH = all(importlib.util.find_spec(m) is not None for m in BLOCK)


def test_the_fast_loop_and_parser_are_chosen_when_they_can_be_imported():
    if not HAVE_BOTH:
        pytest.skip("uvloop or httptools is not installed on this platform")
    assert serve.event_loop(serve.Limits(max_connections=64)) == "uvloop"
    assert serve.http_implementation().__name__ == "HttpToolsProtocol"
    assert serve.guarded_protocol(serve.Limits()).__name__ == "GuardedHttpToolsProtocol"


def test_without_them_the_pure_python_loop_and_parser_are_chosen(monkeypatch):
    for name in BLOCK:
        monkeypatch.setitem(sys.modules, name, None)  # import fails, as where no wheel exists
    assert serve.event_loop(serve.Limits(max_connections=64)) == "asyncio"
    assert serve.http_implementation().__name__ == "H11Protocol"
    assert serve.guarded_protocol(serve.Limits()).__name__ == "GuardedH11Protocol"


def test_a_connection_limit_beyond_the_open_files_keeps_asyncio_which_reports_running_out():
    over = serve.open_file_limit()  # plus FD_RESERVE: more descriptors than the process may open
    assert serve.event_loop(serve.Limits(max_connections=over)) == "asyncio"


class Served:
    """`kvcli local serve` in a subprocess, optionally with uvloop and httptools made unimportable."""

    def __init__(self, data_dir, blocked: bool, env: dict[str, str] | None = None) -> None:
        code = (
            "import sys\n"
            + "".join(f"sys.modules[{m!r}] = None\n" for m in (BLOCK if blocked else ()))
            + "sys.argv[0] = 'kvcli'\nfrom kvcli.entry import main\nsys.exit(main())\n"
        )
        argv = [sys.executable, "-c", code, "local", "serve", "--port", "0", "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(argv, env=subprocess_env(env), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"kvcli local serve did not start: {line!r}")
        self.url = line.strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(params=["uvloop+httptools", "asyncio+h11"])
def served(request, tmp_path):
    if request.param == "uvloop+httptools" and not HAVE_BOTH:
        pytest.skip("uvloop or httptools is not installed on this platform")
    # a long header timeout: only the header size limit can close a connection in these tests
    server = Served(tmp_path / "data", request.param == "asyncio+h11", {"KVCLI_SERVE_HEADER_TIMEOUT": "3600"})
    try:
        yield server
    finally:
        server.stop()


def test_the_api_is_served_the_same_on_either_loop_and_parser(served):
    with httpx.Client(base_url=served.url, timeout=60) as c:
        sid = c.post("/resources/stores/kv", json={"name": "s"}).json()["id"]
        keys = f"/resources/stores/kv/{sid}/keys"
        assert c.put(f"{keys}/a%2Fb", content=b"v1", headers={"metadata": "m\u00e9".encode()}).status_code == 200
        r = c.get(f"{keys}/a%2Fb")
        assert (r.status_code, r.content) == (200, b"v1")
        assert dict(r.headers.raw)[b"metadata"] == "m\u00e9".encode()
        assert c.head(f"{keys}/a%2Fb").headers["content-length"] == "2"
        batch = b'{"key":"b","value":"dg=="}\n{"key":"c","value":"!"}\n'
        r = c.put(f"/resources/stores/kv/{sid}/batch", content=batch)
        assert r.status_code == 400 and [e["key"] for e in r.json()["errors"]] == ["c"]
        assert c.get(keys).json()["data"] == ["a/b", "b"]
        assert c.get(f"{keys}/missing").status_code == 404


@pytest.mark.parametrize("pieces", [1, 20])
def test_request_headers_over_the_limit_are_refused_with_either_parser(served, pieces):
    """At once (the parser has them whole) or in pieces (a parser without a limit would keep them all)."""
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(100))  # 100 KiB, over the 64 KiB limit
    request = b"GET /resources/stores/kv HTTP/1.1\r\nHost: 127.0.0.1\r\n" + pad + b"\r\n"
    step = -(-len(request) // pieces)
    answer = b""
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for at in range(0, len(request), step):
                s.sendall(request[at : at + step])
            while chunk := s.recv(65536):  # read until the server closes the connection
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while headers were still being sent (unread data makes the close a reset)
    # refused (or cut off while still sending), never answered
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:200]
    assert httpx.get(f"{served.url}/resources/stores/kv", timeout=60).status_code == 200


def test_headers_that_never_end_are_cut_off_at_the_limit_with_either_parser(served):
    """Header lines sent on and on without the blank line that ends them: the connection is closed once they pass
    the limit (the parser does not keep them all), long before the header timeout."""
    answer = b""
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as s:
        try:
            s.sendall(b"GET /resources/stores/kv HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for i in range(10_000):  # at most 10 MB
                s.sendall(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000))
            raise AssertionError("10 MB of headers were taken in")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:200]
