"""The resume journal's name for an import: the same digest whichever SHA-256 implementation computes it, so a
journal written by an earlier kvcli (which used hashlib) is found again by ``--resume``."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys

from kvcli.bulk import journal


def _expected(**parts) -> str:
    blob = json.dumps({"target": parts["target"], "store": parts["store_id"], "format": parts["fmt"],
                       "input": parts["identity"]}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


PARTS = {"target": "https://api.fastly.com", "store_id": "s1", "fmt": "ndjson",
         "identity": {"path": "/data/in.ndjson", "size": 12, "mtime_ns": 5}}  # fmt: skip


def test_the_journal_key_is_hashlibs_sha256_of_the_import():
    assert journal.journal_key(**PARTS) == _expected(**PARTS)
    assert journal.journal_key(**{**PARTS, "store_id": "s2"}) != journal.journal_key(**PARTS)


def test_without_a_built_in_sha256_module_hashlib_gives_the_same_key(monkeypatch):
    real = importlib.import_module

    def no_builtin(name, *args):
        if name in ("_sha2", "_sha256"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_builtin)
    assert journal.journal_key(**PARTS) == _expected(**PARTS)


def test_making_a_journal_key_does_not_import_hashlib():
    code = ("import sys; from kvcli.bulk import journal; "
            "journal.journal_key(target='t', store_id='s', fmt='ndjson', identity={}); "
            "print('hashlib' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
