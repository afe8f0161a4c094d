"""Idle and slow connections against `kvcli local serve` (issue 12, item 9).

Sockets that send part of their headers and then nothing (or a byte now and then) must not lock real clients out:
the server closes a connection whose headers do not arrive within a header timeout, sheds the longest-waiting
such connection when it reaches its connection limit (kept below the open-file limit), answers 408 to a body that
stops arriving, and reports running out of file descriptors once per interval instead of a traceback per failed
accept. The limits come from ``KVCLI_SERVE_*`` variables, so these tests use short ones; every wait is for an event
(a closed socket, an answer, a log line), bounded by a generous deadline.
"""

from __future__ import annotations

import resource
import socket
import time

import httpx
import pytest

from tests.served import LocalServe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARTIAL = b"GET /resources/stores/kv HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def slow_sockets(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(PARTIAL)
        socks.append(s)
    return socks


def closed_by_server(s: socket.socket, deadline: float, drip: bool = False) -> bool:
    """True once the server closes ``s`` (EOF or reset), sending a header byte every 50 ms when ``drip``."""
    s.settimeout(0.05 if drip else max(0.1, deadline - time.monotonic()))
    while time.monotonic() < deadline:
        try:
            if drip:
                s.sendall(b"x")
            data = s.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset, or a broken pipe while dripping
            return True
        if data == b"" or data.startswith(b"HTTP/1.1 4"):
            return True
    return False


def real_request(server: LocalServe) -> httpx.Response:
    return httpx.get(server.url + "/resources/stores/kv", timeout=30)


def low_fd_limit(n: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return preexec


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "dripping"])
def test_a_connection_whose_headers_do_not_arrive_is_closed(tmp_path, drip):
    server = LocalServe(tmp_path / "data", env={"KVCLI_SERVE_HEADER_TIMEOUT": "0.5"})
    try:
        (s,) = slow_sockets(server.port, 1)
        assert closed_by_server(s, time.monotonic() + 30, drip=drip), "the server kept a header-less connection open"
        s.close()
        assert real_request(server).status_code == 200
    finally:
        server.stop()


def test_an_idle_keep_alive_connection_is_closed(tmp_path):
    server = LocalServe(tmp_path / "data", env={"KVCLI_SERVE_KEEP_ALIVE": "1"})
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(b"GET /resources/stores/kv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_by_server(s, time.monotonic() + 30)
        s.close()
    finally:
        server.stop()


def test_a_body_that_stops_arriving_gets_408(tmp_path):
    server = LocalServe(tmp_path / "data", env={"KVCLI_SERVE_READ_TIMEOUT": "0.5"})
    try:
        sid = httpx.post(server.url + "/resources/stores/kv", json={"name": "slow"}, timeout=30).json()["id"]
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(f"PUT /resources/stores/kv/{sid}/keys/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Length: 100\r\n\r\n0123456789".encode())
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"connection: close" in answer.lower()
        s.close()
        assert httpx.get(f"{server.url}/resources/stores/kv/{sid}/keys/k", timeout=30).status_code == 404
    finally:
        server.stop()


def test_many_slow_connections_do_not_lock_real_clients_out(tmp_path):
    """300 header-less sockets against a server limited to 256 open files (the header timeout is long, so only the
    connection limit helps): real requests are still answered, and nothing is logged per connection."""
    server = LocalServe(tmp_path / "data", env={"KVCLI_SERVE_HEADER_TIMEOUT": "3600"}, preexec_fn=low_fd_limit(256))
    socks: list[socket.socket] = []
    try:
        socks = slow_sockets(server.port, 300)
        for _ in range(5):
            assert real_request(server).status_code == 200
        with httpx.Client(base_url=server.url, timeout=30) as c:  # and a keep-alive client keeps working
            for _ in range(5):
                assert c.get("/resources/stores/kv").status_code == 200
        err = server.stderr()
        assert "Traceback" not in err and len(err.splitlines()) < 10, err[-3000:]
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_running_out_of_file_descriptors_is_logged_once_per_interval(tmp_path):
    """With a connection limit set above the open-file limit, accept() fails (EMFILE): one line per interval, no
    traceback, and the server serves again once descriptors are free."""
    server = LocalServe(
        tmp_path / "data",
        env={"KVCLI_SERVE_HEADER_TIMEOUT": "3600", "KVCLI_SERVE_MAX_CONNECTIONS": "1000",
             "KVCLI_SERVE_LOG_INTERVAL": "3600"},
        preexec_fn=low_fd_limit(128),
    )
    socks: list[socket.socket] = []
    try:
        socks = slow_sockets(server.port, 200)  # connect() succeeds into the listen backlog
        deadline = time.monotonic() + 60
        while "Too many open files" not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()[-3000:]
            time.sleep(0.05)
        for s in socks:
            s.close()
        socks = []
        assert real_request(server).status_code == 200
        err = server.stderr()
        assert "Traceback" not in err, err[-3000:]
        lines = [line for line in err.splitlines() if "open files" in line]
        assert len(lines) == 1, err[-3000:]
        assert "KVCLI_SERVE_MAX_CONNECTIONS" in lines[0] or "ulimit" in lines[0]
    finally:
        for s in socks:
            s.close()
        server.stop()


@pytest.mark.parametrize("var, value", [("KVCLI_SERVE_HEADER_TIMEOUT", "soon"), ("KVCLI_SERVE_MAX_CONNECTIONS", "0"),
                                        ("KVCLI_SERVE_READ_TIMEOUT", "-1"), ("KVCLI_SERVE_KEEP_ALIVE", "nan")])
def test_a_bad_limit_is_a_one_line_usage_error(cli, var, value):
    res = cli("local", "serve", "--port", "0", env={var: value})
    assert res.exit_code == 2, res
    assert res.stderr.count("\n") == 1 and var in res.stderr and "hint:" in res.stderr
    assert res.stdout == ""


def test_the_default_connection_limit_stays_below_the_open_file_limit(monkeypatch):
    from kvcli.local import serve

    monkeypatch.setattr(serve, "open_file_limit", lambda: 256)
    assert serve.Limits.from_env({}).max_connections == 256 - serve.FD_RESERVE
    monkeypatch.setattr(serve, "open_file_limit", lambda: 1 << 20)
    assert serve.Limits.from_env({}).max_connections == serve.Limits.max_connections
    assert serve.Limits.from_env({"KVCLI_SERVE_MAX_CONNECTIONS": "5000"}).max_connections == 5000  # as asked
