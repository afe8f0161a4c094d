"""Shared fixtures: every test gets its own config and data directories and a clean environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

CLEARED_ENV = (
    "FASTLY_API_TOKEN",
    "FASTLY_API_ENDPOINT",
    "FASTLY_SERVICE_ID",
    "FASTLY_DEBUG_MODE",
    "KVCLI_PROFILE",
    "KVCLI_MAX_VALUE_BYTES",
    "NO_COLOR",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    cfg = tmp_path / "config"
    data = tmp_path / "data"
    monkeypatch.setenv("KVCLI_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("KVCLI_DATA_DIR", str(data))
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    return {"config": cfg, "data": data}


@dataclass
class Result:
    exit_code: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.stdout)

    def __repr__(self) -> str:  # shown by pytest on failure
        return f"Result(exit_code={self.exit_code}, stdout={self.stdout[:2000]!r}, stderr={self.stderr[:2000]!r})"


def invoke(args: list[str], input: str | bytes | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run kvcli in-process exactly as the console script does (argv hoisting, error mapping, exit codes)."""
    from click.testing import CliRunner

    from kvcli.cli.main import run

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = run([str(a) for a in args])
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    def _cli(*args, input: str | bytes | None = None, env: dict[str, str | None] | None = None) -> Result:
        return invoke(list(args), input=input, env=env)

    return _cli


@pytest.fixture
def engine(isolated):
    from kvcli.local.engine import Engine

    eng = Engine.in_dir(isolated["data"])
    yield eng
    eng.close()


@pytest.fixture
def store_id(cli) -> str:
    """A fresh store on the embedded backend, created through the CLI."""
    res = cli("kv-store", "create", "--name", "test-store", "--json")
    assert res.exit_code == 0, res
    return res.json()["StoreID"]


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running `python -m kvcli` in a subprocess with the checkout importable."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env
