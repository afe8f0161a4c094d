"""The official CLI's update check never leaves the machine during the tests.

The binary asks developer.fastly.com for its latest release on every run. ``official_env`` sends that request to a
loopback proxy port where nothing listens. This test listens on such a port instead and checks that the check does
arrive there (so the variable is honoured), while the API calls to the local server are not proxied.
"""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from tests.conformance.conftest import official_cli_path, official_env, require_or_skip


def test_the_update_check_goes_to_the_loopback_proxy_and_api_calls_do_not(tmp_path):
    binary = official_cli_path()
    if binary is None:
        require_or_skip("the official Fastly CLI binary (set KVCLI_FASTLY_BIN)")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        listener.settimeout(60)  # a guard against a hang only: the CLI connects at its start
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(4096))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = official_env(tmp_path, "http://127.0.0.1:9", "t")
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = f"http://127.0.0.1:{port}"
    proc = subprocess.run([str(binary), "version"], env=env, capture_output=True, text=True, timeout=120)
    thread.join(timeout=60)
    listener.close()
    assert proc.returncode == 0, proc.stderr
    assert received, "the update check did not use HTTPS_PROXY: it may reach the network"
    first = received[0].decode("latin-1")
    assert first.startswith("CONNECT ") and "127.0.0.1" not in first.split("\r\n")[0], first


@pytest.mark.parametrize("var", ["HTTPS_PROXY", "HTTP_PROXY"])
def test_official_env_points_every_proxy_at_a_closed_loopback_port(var, tmp_path):
    env = official_env(tmp_path, "http://127.0.0.1:1234", "t")
    assert env[var] == "http://127.0.0.1:9"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
