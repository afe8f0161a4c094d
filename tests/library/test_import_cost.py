"""`import kvcli` stays cheap: the library's names load lazily and never bring in the CLI or the server stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import kvcli
from tests.conftest import subprocess_env

HEAVY = ("typer", "click", "rich", "httpx", "starlette", "uvicorn", "kvcli.cli", "kvcli.local.server")


def loaded_after(code: str) -> list[str]:
    """The heavy modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    out = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(), capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_kvcli_loads_no_other_module():
    """Not even `typing`: the console script imports the package on every run."""
    code = "import sys; before = set(sys.modules); import kvcli; print(sorted(set(sys.modules) - before))"
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "['kvcli']"


def test_the_public_names_do_not_import_the_cli_or_the_server():
    names = ", ".join(f"kvcli.{n}" for n in kvcli.__all__)
    assert loaded_after(f"import kvcli\n{names}") == []


def test_embedded_use_does_not_import_the_cli_or_the_server(tmp_path):
    code = f"""
import io, kvcli
with kvcli.connect(data_dir={str(tmp_path)!r}) as kv:
    s = kv.create_store("cost")
    s["k"] = "v"
    assert s["k"] == b"v" and "k" in s and list(s) == ["k"]
    s.export(io.StringIO())
    s.clear()
"""
    assert loaded_after(code) == []


def test_http_use_leaves_sys_modules_alone(served):
    """The library does not mark modules absent in sys.modules (the console script does, for its own process)."""
    code = f"""
import sys, kvcli
with kvcli.connect(endpoint={served.url!r}, token={served.token!r}) as kv:
    list(kv.stores())
assert None not in sys.modules.values(), [k for k, v in sys.modules.items() if v is None]
"""
    loaded = loaded_after(code)
    assert "httpx" in loaded  # the HTTP adapter's client
    assert not any(m.startswith(("typer", "kvcli.cli", "starlette", "uvicorn")) for m in loaded)


def test_lazy_attributes():
    assert kvcli.connect is kvcli.library.connect
    assert kvcli.NotFound is kvcli.api.errors.NotFound
    assert set(kvcli.__all__) <= set(dir(kvcli))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kvcli.nope  # noqa: B018
