"""The bulk import's per-entry steps, made faster for issue 14, still say exactly what they said before.

NDJSON lines go to msgspec first and, when it refuses one, to json's scanner: every record (good or bad, with its
message) is the same as with json alone. A key's forbidden characters are found by one regex scan and still listed
sorted and once each.
"""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvcli.api import validation
from kvcli.bulk.sources import ndjson
from kvcli.bulk.sources.ndjson import NdjsonSource

LINES = [
    b'{"key":"a","value":"dg=="}',
    b'{"key":"a","value":"dg==","metadata":"m","time_to_live_sec":60,"background_fetch":true}',
    b'{"key":"a","key":"b","value":"dg=="}',  # a repeated name: the last one counts
    b'{"key":"\\ud83d\\ude00","value":"dg=="}',  # a surrogate pair: one character
    b'{"key":"\\ud800","value":"dg=="}',  # a lone surrogate: json reads it, the key check refuses it
    b'{"key":"a","value":"dg==","time_to_live_sec":NaN}',  # only json reads NaN
    b'{"key":"a","value":"dg==","time_to_live_sec":1e400}',
    b'{"key":"a","value":"dg==","time_to_live_sec":' + b"9" * 5000 + b"}",  # beyond int()'s digit limit
    b'{"key":"a","value":"dg==","time_to_live_sec":' + b"9" * 30 + b"}",  # beyond 64 bits
    b'{"key":"a","value":"dg==","time_to_live_sec":60.0}',
    b'{"key":"a\xff","value":"dg=="}',  # not UTF-8
    b'{"key":"a\x01","value":"dg=="}',  # a raw control character
    b'{"key":"a","value":"dg=="} trailing',
    b'{"key":"a","value":"dg=="',  # never completed
    b"[1, 2]",
    b'"just a string"',
    b'{"key":"a","value":"not base64!"}',
    b'{"key":1,"value":"dg=="}',
    b"\xef\xbb\xbf" + b'{"key":"bom","value":"dg=="}',
    b'   {"key":"spaced","value":"dg=="}   ',
]


def _records(path) -> list:
    out = []
    for rec in NdjsonSource(str(path)).records():
        fields = {name: getattr(rec, name) for name in rec.__slots__}  # type: ignore[attr-defined]
        out.append((type(rec).__name__, fields))
    return out


@pytest.mark.skipif(importlib.util.find_spec("msgspec") is None, reason="msgspec is not installed here")
@pytest.mark.parametrize("line", LINES, ids=range(len(LINES)))
def test_a_line_gives_the_same_record_with_msgspec_as_with_json_alone(tmp_path, monkeypatch, line):
    path = tmp_path / "in.ndjson"
    path.write_bytes(line + b"\n" + b'{"key":"next","value":"dg=="}\n')
    fast = _records(path)
    assert ndjson._fast_loads is not None  # msgspec was used (imported at the first line parsed one by one)
    monkeypatch.setattr(ndjson, "_fast_loads", None)
    assert fast == _records(path)


def _reference_key_problem_chars(key: str) -> list[str]:
    return sorted({c for c in key if c in validation.FORBIDDEN_KEY_CHARS})


@given(st.text(alphabet=st.sampled_from("ab#;?^|\r\n.é\u2603"), max_size=40))
def test_forbidden_key_characters_are_each_named_once_in_order(key):
    problem = validation.key_problem(key)
    bad = _reference_key_problem_chars(key)
    if bad and problem and "forbidden character" in problem:
        assert problem.startswith(f"key contains a forbidden character ({', '.join(repr(c) for c in bad)})")
    elif key and key not in (".", "..") and not bad:
        assert problem is None


def test_a_key_with_a_lone_surrogate_or_over_1024_utf8_bytes_is_still_refused():
    assert validation.key_problem("a\ud800") == "key is not valid Unicode"
    assert validation.key_problem("é" * 513) == "key is 1026 bytes; the limit is 1024 bytes of UTF-8"
    assert validation.key_problem("a" * 1024) is None
    assert validation.key_problem("a" * 1025) == "key is 1025 bytes; the limit is 1024 bytes of UTF-8"
