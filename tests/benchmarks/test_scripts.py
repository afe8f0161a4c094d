"""The benchmark scripts stay runnable: each one imports and parses its arguments; the new ones plan without running.

The benchmarks themselves are not tests (they time things); these checks only keep them from rotting.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def load(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import their sibling _common
    spec = importlib.util.spec_from_file_location(f"kvcli_benchmark_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_new_benchmarks_are_there():
    names = {p.name for p in SCRIPTS}
    assert {"startup.py", "commands.py", "latency_proxy.py", "server.py"} <= names


def test_no_benchmark_is_named_like_a_module_a_benchmark_imports():
    # a script runs with benchmarks/ first on sys.path: a benchmarks/copy.py made uvicorn's `from copy import copy`
    # import the benchmark, and the minimal server of server.py died at start
    taken = set(sys.stdlib_module_names) | {"kvcli", "httpx", "uvicorn", "starlette", "msgspec", "typer", "click"}
    assert not sorted(p.stem for p in BENCH.glob("*.py") if p.stem in taken)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_imports_and_parses_its_arguments(path, monkeypatch, capsys):
    module = load(path, monkeypatch)
    monkeypatch.setattr(sys, "argv", [path.name, "--help"])
    with pytest.raises(SystemExit) as exit_:
        try:
            module.main(["--help"])
        except TypeError:  # the older scripts' main() reads sys.argv
            module.main()
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_commands_plans_six_commands_for_three_tools_creates_before_deletes(monkeypatch, capsys):
    module = load(BENCH / "commands.py", monkeypatch)
    module.main(["--dry-run", "--fastly", "/nonexistent/fastly", "--kvcli", "kvcli", "--runs", "3"])
    lines = capsys.readouterr().out.splitlines()
    planned = [line for line in lines if line.startswith(("kv-store ", "kv-store-entry "))]
    assert len(planned) == 18
    for command in module.COMMANDS:
        for tool in module.TOOLS:
            assert any(line.startswith(f"{command} [{tool}]") for line in planned), (command, tool)
    order = [line.split(" [")[0] for line in planned]
    assert max(i for i, c in enumerate(order) if c.endswith("create")) < min(
        i for i, c in enumerate(order) if c.endswith("delete")
    )
    assert all(line.endswith(" -q") for line in planned if "[official]" in line)
    assert all(" kvcli -q " in line for line in planned if "[official]" not in line)
    assert lines[-1].startswith("3 runs")


def test_commands_reads_uvicorns_access_log_lines(monkeypatch):
    module = load(BENCH / "commands.py", monkeypatch)
    line = 'INFO:     127.0.0.1:51234 - "HEAD /resources/stores/kv/abc/keys/k00 HTTP/1.1" 200 OK'
    m = module.LOG_LINE.search(line)
    assert m and m.groups() == ("127.0.0.1", "51234", "HEAD", "/resources/stores/kv/abc/keys/k00", "200")


def test_server_plans_both_requests_at_three_levels(monkeypatch, capsys):
    module = load(BENCH / "server.py", monkeypatch)
    module.main(["--dry-run", "--seconds", "1"])
    out = capsys.readouterr().out
    for request in ("get", "list"):
        for conns in (1, 10, 50):
            assert f"{request} at {conns:2d} connections" in out


def test_latency_proxy_carries_one_https_request(monkeypatch, capsys):
    try:
        import cryptography  # noqa: F401
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command is available")
    module = load(BENCH / "latency_proxy.py", monkeypatch)
    module.main(["--self-test", "--rtt-ms", "0"])
    assert "self-test passed" in capsys.readouterr().out
