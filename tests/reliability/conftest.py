"""Helpers for the reliability suite: bulk inputs with known content, `kvcli local serve` processes that can be
killed and restarted on the same port and data directory, kvcli subprocesses, and readers of what was stored.

Heavier variants are opt-in through environment variables:

* ``KVCLI_RELIABILITY_RUNS=N``: N seeded kill runs per crash scenario instead of the default handful.
* ``KVCLI_RELIABILITY_HEAVY=1``: the faulty-network test exports and deletes all 10,000 entries (a few minutes)
  instead of a 1,000-key export and a 100-key delete.
* ``KVCLI_RELIABILITY_SEED=S``: the base seed of the random kill points and fault choices (default: fixed).
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

BASE_SEED = int(os.environ.get("KVCLI_RELIABILITY_SEED", "20261127"))
HEAVY = os.environ.get("KVCLI_RELIABILITY_HEAVY", "") not in ("", "0")


def runs(default: int) -> int:
    """How many seeded runs a scenario makes (``KVCLI_RELIABILITY_RUNS`` overrides the default)."""
    raw = os.environ.get("KVCLI_RELIABILITY_RUNS", "")
    return int(raw) if raw.strip() else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------- bulk input
@dataclass
class BulkInput:
    """An NDJSON file whose content is known record by record (duplicates included: the last one wins)."""

    path: Path
    keys: list[str]  # by ordinal
    values: list[bytes]  # by ordinal
    occurrences: dict[str, list[int]] = field(default_factory=dict)  # key -> ordinals, ascending

    @property
    def final(self) -> dict[str, bytes]:
        return {k: self.values[o[-1]] for k, o in self.occurrences.items()}

    def __len__(self) -> int:
        return len(self.keys)


def make_input(path: Path, n: int, *, seed: int, prefix: str = "k", duplicates: float = 0.01) -> BulkInput:
    """``n`` records; about ``duplicates`` of them rewrite a key seen shortly before with a new value."""
    rng = random.Random(seed)
    keys: list[str] = []
    values: list[bytes] = []
    occ: dict[str, list[int]] = {}
    with open(path, "w", encoding="utf-8") as fh:
        fresh = 0
        for i in range(n):
            if keys and rng.random() < duplicates:
                key = keys[max(0, i - rng.randint(1, 3000))]
            else:
                key = f"{prefix}{fresh:06d}"
                fresh += 1
            value = f"{i}:".encode() + rng.randbytes(rng.randint(0, 48))
            keys.append(key)
            values.append(value)
            occ.setdefault(key, []).append(i)
            fh.write(json.dumps({"key": key, "value": base64.b64encode(value).decode("ascii")}) + "\n")
    return BulkInput(path, keys, values, occ)


# ------------------------------------------------------------------------------------------- reading results
def db_path(data_dir: Path) -> Path:
    from kvcli.local.engine import DB_FILENAME

    return data_dir / DB_FILENAME


def integrity(data_dir: Path) -> str:
    conn = sqlite3.connect(db_path(data_dir), timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def stored(data_dir: Path, store_id: str, prefix: str = "") -> dict[str, bytes]:
    """Every item of a store, read straight from SQLite (expired or not: the inputs here have no TTLs)."""
    conn = sqlite3.connect(db_path(data_dir), timeout=30)
    try:
        rows = conn.execute(
            "SELECT key, value FROM items WHERE store_id = ? AND substr(key, 1, ?) = ?",
            (store_id, len(prefix), prefix),
        ).fetchall()
    finally:
        conn.close()
    return {k: bytes(v) for k, v in rows}


def journal_files(client_data: Path) -> list[Path]:
    d = client_data / "imports"
    return sorted(d.glob("*.journal")) if d.exists() else []


def acked_ranges(journal: Path) -> list[tuple[int, int]]:
    """The ordinal ranges an import recorded as acknowledged (a torn last line of a killed run is ignored)."""
    out = []
    lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
    for raw in lines[1:]:
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "s" in rec and "e" in rec:
            out.append((int(rec["s"]), int(rec["e"])))
    return out


def journal_lines(client_data: Path) -> int:
    files = journal_files(client_data)
    if not files:
        return -1
    try:
        return files[0].read_bytes().count(b"\n") - 1
    except OSError:
        return -1


def check_reported(data: BulkInput, acked: list[tuple[int, int]], content: dict[str, bytes]) -> dict[str, int]:
    """Every acknowledged record is stored with its value (or a later record's value for the same key); nothing is
    stored that the input does not hold. Returns counts for the report."""
    done = bytearray(len(data))
    for s, e in acked:
        done[s : e + 1] = b"\x01" * (e - s + 1)
    phantom = [k for k in content if k not in data.occurrences]
    assert not phantom, f"keys stored that are not in the input: {phantom[:5]}"
    missing, wrong, unreported = [], [], 0
    for key, ords in data.occurrences.items():
        acked_ords = [o for o in ords if done[o]]
        have = content.get(key)
        if not acked_ords:
            if have is not None:
                unreported += 1
                assert have in {data.values[o] for o in ords}, f"{key!r} holds a value the input never gave it"
            continue
        last = acked_ords[-1]
        allowed = {data.values[o] for o in ords if o >= last}
        if have is None:
            missing.append((key, last))
        elif have not in allowed:
            wrong.append((key, last))
    assert not missing, f"{len(missing)} acknowledged entries are missing, e.g. {missing[:5]}"
    assert not wrong, f"{len(wrong)} acknowledged entries hold a wrong value, e.g. {wrong[:5]}"
    return {"acked": sum(done), "unreported_present": unreported}


# --------------------------------------------------------------------------------------------------- processes
def kvcli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = subprocess_env({"KVCLI_DATA_DIR": str(data_dir), "KVCLI_NO_PROGRESS": "1", **extra})
    for name in ("FASTLY_API_TOKEN", "FASTLY_API_ENDPOINT", "KVCLI_PROFILE", "FASTLY_DEBUG_MODE"):
        env.pop(name, None)
    return env


def start_kvcli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m kvcli ARGS`` with stdout and stderr captured in ``log``.out / ``log``.err."""
    return subprocess.Popen(
        [sys.executable, "-m", "kvcli", *args],
        env=env,
        stdout=open(f"{log}.out", "wb"),  # noqa: SIM115 - the child owns them
        stderr=open(f"{log}.err", "wb"),  # noqa: SIM115
    )


def run_kvcli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvcli", *args], env=env, capture_output=True, timeout=timeout)


def kill9(proc: subprocess.Popen) -> bool:
    """SIGKILL; True when the process was still running (the kill interrupted it)."""
    alive = proc.poll() is None
    if alive:
        try:
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            alive = False
    proc.wait(timeout=30)
    return alive and proc.returncode == -signal.SIGKILL


class Server:
    """`kvcli local serve` on a fixed loopback port and data directory; can be SIGKILLed and started again."""

    def __init__(self, data_dir: Path, port: int | None = None, token: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> Server:
        args = [sys.executable, "-m", "kvcli", "local", "serve", "--port", str(self.port), "--data-dir",
                str(self.data_dir)]
        if self.token:
            args += ["--token", self.token]
        self.starts += 1
        err = open(self.data_dir.parent / f"serve-{self.port}-{self.starts}.err", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=kvcli_env(self.data_dir), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvcli local serve exited with {self.proc.returncode}: {self.stderr()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("kvcli local serve did not start")

    def stderr(self) -> str:
        p = self.data_dir.parent / f"serve-{self.port}-{self.starts}.err"
        return p.read_text(errors="replace") if p.exists() else ""

    def kill(self) -> None:
        if self.proc is not None:
            kill9(self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server_factory(tmp_path):
    servers: list[Server] = []

    def make(name: str = "server", port: int | None = None, token: str | None = None) -> Server:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        s = Server(d / "data", port=port, token=token)
        servers.append(s)
        return s.start()

    yield make
    for s in servers:
        s.stop()
