"""`kvcli local serve` as a process: the URL it prints, clean shutdown, binding rules, real-socket wire details, and
sharing the data directory with another process using the embedded backend."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from kvcli.local.engine import Engine
from tests.conftest import subprocess_env
from tests.served import LocalServe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "serve-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = LocalServe(tmp_path_factory.mktemp("serve") / "data", token=TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(served):
    with httpx.Client(base_url=served.url, headers={"Fastly-Key": TOKEN}, timeout=10) as c:
        yield c


@pytest.fixture
def sid(http) -> str:
    import uuid

    r = http.post("/resources/stores/kv", json={"name": f"s-{uuid.uuid4().hex[:10]}"})
    assert r.status_code == 201
    return r.json()["id"]


# ------------------------------------------------------------------------------------------------ the process
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_prints_its_url_serves_and_stops_cleanly(tmp_path, sig):
    server = LocalServe(tmp_path / "data")
    try:
        assert server.port > 0  # --port 0 picked a free port and printed the real one
        assert f"Serving the Fastly API for {tmp_path / 'data' / 'kvcli.db'} at {server.url}" in server.stderr()
        r = httpx.post(server.url + "/resources/stores/kv", json={"name": "x"}, timeout=10)  # no token needed
        assert r.status_code == 201
        assert server.signal(sig) == 0
        assert "Stopped." in server.stderr()
        assert "Traceback" not in server.stderr()
    finally:
        server.stop()


def test_with_a_token_other_keys_get_401(served):
    r = httpx.get(served.url + "/resources/stores/kv", headers={"Fastly-Key": "nope"}, timeout=10)
    assert r.status_code == 401 and r.json() == {"msg": "Provided credentials are missing or invalid"}
    r = httpx.get(served.url + "/realms/fastly/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200 and r.json()["issuer"] == served.url + "/realms/fastly"


def test_a_busy_port_is_a_one_line_error(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = cli("local", "serve", "--port", str(port))
    assert res.exit_code == 2, res
    assert res.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in res.stderr and "--port" in res.stderr
    assert res.stdout == ""


def test_binding_errors_name_no_flag_in_the_library_and_the_cli_words_them(cli, monkeypatch):
    from kvcli.api.errors import UsageError
    from kvcli.local.serve import bind
    from tests.library.test_errors_name_no_flags import no_flag

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(UsageError) as busy:
            bind("127.0.0.1", s.getsockname()[1])
    no_flag(busy.value)
    assert busy.value.reason == "port_busy"
    def unresolvable(*args, **kwargs):  # no name lookup leaves this machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    with pytest.raises(UsageError) as unknown:
        bind("no-such-host.invalid", 0)
    no_flag(unknown.value)
    res = cli("local", "serve", "--host", "no-such-host.invalid", "--port", "0")
    assert res.exit_code == 2, res.stderr
    shown = f"Error: cannot resolve --host 'no-such-host.invalid': [Errno {socket.EAI_NONAME}] Name"
    assert res.stderr.startswith(shown)
    assert res.stderr.rstrip().endswith("(hint: pass an IP address such as 127.0.0.1)")


@pytest.fixture
def fake_runner(monkeypatch):
    """Bind loopback whatever --host says, and do not actually serve: records the app it would have served."""
    from kvcli.local import serve as runner

    real_bind = runner.bind
    served: list = []
    monkeypatch.setattr(runner, "bind", lambda host, port: real_bind("127.0.0.1", 0))
    monkeypatch.setattr(runner, "run", lambda app, sock, **kwargs: served.append(app))
    return served


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_a_non_loopback_host_without_token_warns_loudly(cli, fake_runner, host):
    res = cli("local", "serve", "--host", host, "--port", "0")
    assert res.exit_code == 0, res
    assert "WARNING" in res.stderr and "not a loopback" in res.stderr and "--token" in res.stderr
    assert len(fake_runner) == 1
    assert res.stdout.startswith("http://")


@pytest.mark.parametrize("args", [["--host", "127.0.0.1"], ["--host", "localhost"], ["--host", "0.0.0.0", "-t", "x"]])
def test_loopback_or_a_token_does_not_warn(cli, fake_runner, args):
    res = cli("local", "serve", "--port", "0", *args)
    assert res.exit_code == 0, res
    assert "WARNING" not in res.stderr


def test_the_token_can_come_from_the_environment(cli, fake_runner):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    res = cli("local", "serve", "--port", "0", env={"KVCLI_SERVE_TOKEN": "from-env"})
    assert res.exit_code == 0, res
    with TestClient(fake_runner[0], base_url="http://127.0.0.1:7676") as c:  # a loopback Host: see exposure tests
        assert c.get("/resources/stores/kv").status_code == 401
        assert c.get("/resources/stores/kv", headers={"Fastly-Key": "from-env"}).status_code == 200


def test_an_empty_token_is_refused(cli, fake_runner):
    res = cli("local", "serve", "--port", "0", "--token", "")
    assert res.exit_code == 2 and "--token" in res.stderr
    assert fake_runner == []


def test_an_empty_token_in_the_environment_is_refused_too(cli, fake_runner):
    """``KVCLI_SERVE_TOKEN=`` (set, but empty) used to start an open server without a word."""
    res = cli("local", "serve", "--port", "0", env={"KVCLI_SERVE_TOKEN": ""})
    assert res.exit_code == 2, res
    assert res.stderr.count("\n") == 1 and "KVCLI_SERVE_TOKEN" in res.stderr and "hint:" in res.stderr
    assert fake_runner == [] and res.stdout == ""
    res = cli("local", "serve", "--port", "0", "--token", "given", env={"KVCLI_SERVE_TOKEN": ""})
    assert res.exit_code == 0, res  # an explicit --token wins over the empty variable


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.1", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    from kvcli.local.serve import is_loopback

    assert is_loopback(host) is loopback


def test_url_for_brackets_ipv6():
    from kvcli.local.serve import url_for

    assert url_for("::1", 7676) == "http://[::1]:7676"
    assert url_for("127.0.0.1", 80) == "http://127.0.0.1:80"


# ------------------------------------------------------------------------------------- wire over a real socket
def test_percent_2f_keys_survive_the_real_server(http, sid):
    assert http.put(f"/resources/stores/kv/{sid}/keys/a%2Fb%20c", content=b"v").status_code == 200
    assert http.get(f"/resources/stores/kv/{sid}/keys").json()["data"] == ["a/b c"]
    assert http.get(f"/resources/stores/kv/{sid}/keys/a%2Fb%20c").content == b"v"
    assert http.get(f"/resources/stores/kv/{sid}/keys/a/b%20c").status_code == 404


def test_underscore_ttl_header_and_utf8_metadata_survive_the_real_server(http, sid):
    meta = 'café ☕ {"k":1}'
    r = http.put(
        f"/resources/stores/kv/{sid}/keys/t",
        content=b"v",
        headers={"time_to_live_sec": "3600", "metadata": meta.encode("utf-8")},
    )
    assert r.status_code == 200
    got = http.get(f"/resources/stores/kv/{sid}/keys/t")
    assert got.headers.raw  # raw bytes: the metadata is UTF-8 on the wire
    raw = dict(got.headers.raw)
    assert raw[b"metadata"].decode("utf-8") == meta
    assert abs(int(raw[b"kvcli-expires-at"]) - (time.time() + 3600)) < 60


def test_head_and_412_over_the_real_server(http, sid):
    http.put(f"/resources/stores/kv/{sid}/keys/h", content=b"hello")
    r = http.head(f"/resources/stores/kv/{sid}/keys/h")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "5"
    r = http.put(f"/resources/stores/kv/{sid}/keys/h?add=true", content=b"x")
    assert r.status_code == 412 and r.content == b"" and r.headers["content-length"] == "0"


# ------------------------------------------------------------------------------------ sharing the data directory
WRITER = textwrap.dedent(
    """
    import sys
    from kvcli.api.local import LocalAdapter

    api = LocalAdapter.open(sys.argv[1])
    for i in range(int(sys.argv[3])):
        api.put_item(sys.argv[2], f"embedded-{i:04d}", str(i).encode())
    api.close()
    """
)


def test_the_data_dir_is_shared_safely_with_embedded_kvcli_processes(served, http, sid):
    """A separate process writes through the embedded adapter while the server takes writes over HTTP."""
    n = 150
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(served.data_dir), sid, str(n)],
        env=subprocess_env(),
        stderr=subprocess.PIPE,
    )
    errors: list[str] = []

    def http_writes() -> None:
        with httpx.Client(base_url=served.url, headers={"Fastly-Key": TOKEN}, timeout=30) as c:
            for i in range(n):
                r = c.put(f"/resources/stores/kv/{sid}/keys/served-{i:04d}", content=str(i).encode())
                if r.status_code != 200:
                    errors.append(f"{i}: {r.status_code} {r.text}")

    thread = threading.Thread(target=http_writes)
    thread.start()
    thread.join(timeout=60)
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()
    assert errors == []

    listed = http.get(f"/resources/stores/kv/{sid}/keys").json()["data"]
    assert len(listed) == 2 * n
    assert http.get(f"/resources/stores/kv/{sid}/keys/embedded-0042").content == b"42"  # the server sees it
    engine = Engine.in_dir(served.data_dir)  # and a third party (this process, embedded) sees both
    try:
        assert engine.get_item(sid, "served-0099").value == b"99"
        assert len(engine.list_keys(sid).items) == 2 * n
    finally:
        engine.close()
