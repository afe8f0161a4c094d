"""The library's surface type-checks with mypy (strict), and so does user code written against it: the ``kvcli``
package ships ``py.typed``, and kvcli.records' dataclass stand-in tells checkers what it generates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ["kvcli/__init__.py", "kvcli/library.py", "kvcli/library_store.py"]

GOOD = '''
import io
import kvcli


def use() -> None:
    with kvcli.connect(local=True, timeout=5.0) as kv:
        store: kvcli.Store = kv.create_store("x", location=None)
        store["k"] = "text"
        store["b"] = b"bytes"
        value: bytes = store["k"]
        item: kvcli.Item = store.get("k")
        generation: int = item.generation + len(value)
        info = kvcli.ItemInfo(key="k", generation=generation, metadata="", size=0, last_modified=None)
        keys: list[str] = list(store.keys(prefix="a")) + [k for k in store] + [info.key]
        counted: int = store.clear() + store.delete_prefix("a/")
        report: kvcli.ImportReport = store.import_file("f.ndjson", format=None, resume=False,
                                                       on_progress=lambda r: print(r.written))
        exported: kvcli.ExportReport = store.export(io.StringIO(), "ndjson")
        store.put("k", b"v", metadata=None, ttl=60, mode="append", if_generation_match=None)
        stores: list[kvcli.Store] = list(kv.stores())
        print(keys, counted, report.written, exported.exported, stores, "k" in store)
        try:
            kv.store("nope")
        except kvcli.NotFound as err:
            kind: str = err.kind
            print(kind, err.message, err.operation, err.store_id, err.key)
'''

BAD = '''
import kvcli


def use(store: kvcli.Store) -> None:
    store["k"] = 42
    store.put("k", b"v", mode="upsert")
    kvcli.ItemInfo(key=1, generation=1, metadata="", size=0, last_modified=None)
    kvcli.connect(timeout="soon")
'''


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is in the test extras")
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", "--strict",
         "--warn-unused-ignores", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_library_modules_pass_mypy_strict():
    out = mypy(*LIBRARY)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_whole_package_passes_mypy():
    """Every module of kvcli, with the settings in pyproject.toml ([tool.mypy]), and no unused ignores."""
    pytest.importorskip("mypy", reason="mypy is in the test extras")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--warn-unused-ignores", "kvcli"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_user_code_is_checked_against_the_library(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    out = mypy(str(good))
    assert out.returncode == 0, out.stdout + out.stderr
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    out = mypy(str(bad))
    assert out.returncode == 1
    for line in (6, 7, 8, 9):  # each misuse is reported where it is
        assert f"bad.py:{line}: error" in out.stdout, out.stdout


def test_py_typed_is_shipped():
    import tomllib

    assert (ROOT / "kvcli" / "py.typed").is_file()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["kvcli"]  # package data: the wheel carries the marker
