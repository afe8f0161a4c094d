"""Every Python example of docs/library.md runs, as written: the ```python blocks, top to bottom in one namespace (a
reader's interactive session), in an empty working directory with fresh config and data directories.

The page runs twice: on the embedded backend (nothing configured, so ``kvcli.connect()`` chooses it), and with
``FASTLY_API_ENDPOINT``/``FASTLY_API_TOKEN`` pointing at a ``kvcli local serve`` of its own, so that every
``kvcli.connect()`` without arguments goes over HTTP. A block preceded by ``<!-- no-test: why -->`` is skipped (it
needs real Fastly). Examples check themselves with ``assert``; what they print is shown when one fails.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from pathlib import Path

import pytest

from tests.docs.test_examples import ROOT, parse
from tests.served import LocalServe

DOC = ROOT / "docs" / "library.md"


def python_blocks(doc: Path):
    blocks, errors = parse(doc)
    assert not errors, errors
    return [b for b in blocks if b.lang in ("python", "py") and not b.get("no-test")]


def run_page(doc: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": "__docs__"}
    count = 0
    try:
        for block in python_blocks(doc):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(block.text, f"{block.where}", "exec"), namespace)  # the docs' own code
            except Exception:  # reported with the block's place and output
                shown = out.getvalue()
                pytest.fail(f"example at {block.where} failed:\n{traceback.format_exc()}\nit printed:\n{shown}")
            count += 1
    finally:
        kv = namespace.get("kv")
        if kv is not None:
            kv.close()
    return count


def test_library_examples_on_the_embedded_backend(tmp_path, isolated, monkeypatch):
    assert run_page(DOC, tmp_path, monkeypatch) >= 10


def test_library_examples_over_http(tmp_path, isolated, monkeypatch):
    served = LocalServe(tmp_path / "served-data", token="docs-token")
    try:
        monkeypatch.setenv("FASTLY_API_ENDPOINT", served.url)
        monkeypatch.setenv("FASTLY_API_TOKEN", served.token)
        work = tmp_path / "work"
        work.mkdir()
        assert run_page(DOC, work, monkeypatch) >= 10
        import kvcli

        with kvcli.connect() as kv:  # the examples really went to the server
            assert not kv.local
            assert kv.store("demo-copy")["greeting"] == b"hello"
    finally:
        served.stop()


def test_a_failing_example_fails_the_test(tmp_path, isolated, monkeypatch):
    doc = tmp_path / "doc.md"
    doc.write_text("```python\nimport kvcli\nkv = kvcli.connect()\n```\n\n```python\nkv.store('missing')\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"doc.md:6 failed(.|\n)*NotFound"):
        run_page(doc, tmp_path, monkeypatch)
