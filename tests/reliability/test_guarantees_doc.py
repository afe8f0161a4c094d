"""docs/guarantees.md names the test behind each promise: every test it names exists (and is collected by pytest)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_named_in_guarantees_md_exists():
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    tokens = re.findall(r"`(tests/[\w/]+\.py)|::(test_\w+)", text)  # in order: a file, then names in it
    current = None
    checked, missing = 0, []
    for path, name in tokens:
        if path:
            current = path
            assert (ROOT / path).exists(), path
            continue
        assert current is not None, name
        source = (ROOT / current).read_text(encoding="utf-8")
        checked += 1
        if not re.search(rf"^def {name}\(", source, re.MULTILINE):
            missing.append(f"{current}::{name}")
    assert checked >= 20
    assert missing == []
