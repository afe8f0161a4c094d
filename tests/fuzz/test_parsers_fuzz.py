"""Hypothesis fuzzing of the bulk-input parsers (kvcli/bulk/sources): NDJSON, wrangler, Viceroy and setup JSON.

Whatever the bytes, a parser yields Entry/Bad records with contiguous ordinals (one per input record) or stops with
a SourceError (a one-line, typed error) — never another exception. Valid records always come back exactly (key,
value, metadata, TTL), also when surrounded by garbage lines. ``KVCLI_FUZZ_EXAMPLES`` sets the number of examples
(default 300; documents with structure: a fifth of that).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcli.api.errors import KvcliError
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources import NdjsonSource, SetupJsonSource, ViceroyJsonSource, WranglerSource, detect_format
from kvcli.bulk.validate import validate

EXAMPLES = int(os.environ.get("KVCLI_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# structured documents cost more to generate than they cost to parse: fewer of them by default
STRUCTURED = settings(max_examples=max(20, EXAMPLES // 5), deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_800_000_000.0

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="#;?^|\r\n"),
               min_size=1, max_size=40).filter(lambda k: k not in (".", "..") and len(k.encode()) <= 1024
                                               and not k.startswith(".well-known/acme-challenge/"))
metadata = st.none() | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\n"),
                               max_size=50)
ttls = st.none() | st.integers(1, 10**9)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def records(source) -> list:
    """All records, or the SourceError that stopped the read (appended last)."""
    out = []
    try:
        for rec in validate(source.records()):
            assert isinstance(rec, (Entry, Bad)), rec
            out.append(rec)
    except KvcliError as exc:  # a typed, reportable error is allowed; nothing else is
        assert exc.message and "\n" not in exc.message
        out.append(exc)
    return out


def check_ordinals(recs: list) -> None:
    got = [r.ordinal for r in recs if isinstance(r, (Entry, Bad))]
    assert got == list(range(len(got))), got


# ----------------------------------------------------------------------------------------------------- NDJSON
@SETTINGS
@given(data=st.binary(max_size=2000))
def test_ndjson_survives_any_bytes(data):
    recs = records(NdjsonSource(stream=io.BytesIO(data)))
    check_ordinals(recs)
    for r in recs:
        if isinstance(r, Bad):
            assert r.reason and r.line is not None and r.line >= 1


@st.composite
def ndjson_entries(draw):
    entry = {"key": draw(keys), "value": draw(st.binary(max_size=60))}
    m, t = draw(metadata), draw(ttls)
    if m is not None:
        entry["metadata"] = m
    if t is not None:
        entry["time_to_live_sec"] = t
    return entry


def _line(e: dict) -> str:
    obj = {**e, "value": base64.b64encode(e["value"]).decode()}
    return json.dumps(obj, ensure_ascii=False)


garbage = st.text(max_size=40).filter(lambda t: not t.strip().startswith("{") and "\n" not in t and "\r" not in t
                                      and t.strip() != "")


@STRUCTURED
@given(items=st.lists(st.tuples(ndjson_entries(), st.lists(garbage, max_size=2)), max_size=20),
       crlf=st.booleans(), blank=st.booleans())
def test_ndjson_valid_lines_come_back_exactly_between_garbage(items, crlf, blank):
    nl = "\r\n" if crlf else "\n"
    text = ""
    for entry, junk in items:
        text += _line(entry) + nl + "".join(j + nl for j in junk) + (nl if blank else "")
    recs = records(NdjsonSource(stream=io.BytesIO(text.encode("utf-8"))))
    check_ordinals(recs)
    good = [r for r in recs if isinstance(r, Entry)]
    assert [(r.key, r.value, r.metadata, r.ttl) for r in good] == [
        (e["key"], e["value"], e.get("metadata"), e.get("time_to_live_sec")) for e, _ in items
    ]
    assert sum(isinstance(r, Bad) for r in recs) == sum(len(j) for _, j in items)


# ---------------------------------------------------------------------------------------------- JSON documents
def _json_source(cls, data: bytes):
    src = cls(stream=io.BytesIO(data), label="<fuzz>")
    src.clock = lambda: NOW
    return src


@SETTINGS
@given(data=st.binary(max_size=1500), cls=st.sampled_from([WranglerSource, ViceroyJsonSource, SetupJsonSource]))
def test_json_documents_survive_any_bytes(data, cls):
    check_ordinals(records(_json_source(cls, data)))


@STRUCTURED
@given(doc=st.lists(json_values, max_size=8))
def test_wrangler_gives_one_record_per_array_element_whatever_it_holds(doc):
    data = json.dumps(doc).encode()  # NaN and Infinity included, as Python (and wrangler's input) may write them
    recs = records(_json_source(WranglerSource, data))
    assert all(isinstance(r, (Entry, Bad)) for r in recs), recs[-1]
    assert len(recs) == len(doc)
    check_ordinals(recs)


@STRUCTURED
@given(doc=st.dictionaries(st.text(max_size=12), json_values, max_size=8),
       cls=st.sampled_from([ViceroyJsonSource, SetupJsonSource]))
def test_object_formats_give_one_record_per_member_whatever_it_holds(doc, cls):
    recs = records(_json_source(cls, json.dumps(doc).encode()))
    assert all(isinstance(r, (Entry, Bad)) for r in recs), recs[-1]
    assert len(recs) == len(doc)


@st.composite
def wrangler_items(draw):
    key = draw(keys)
    raw = draw(st.binary(max_size=40))
    as_b64 = draw(st.booleans())
    item: dict = {"key": key}
    if as_b64:
        item["value"], item["base64"] = base64.b64encode(raw).decode(), True
        value = raw
    else:
        text = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
        item["value"], value = text, text.encode()
    meta = draw(st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
    if meta is not None:
        item["metadata"] = meta
    expiry = draw(st.none() | st.integers(1, 10**6) | st.floats(0.5, 10**6, allow_nan=False))
    if expiry is not None:
        item["expiration_ttl"] = expiry
    return item, value


@STRUCTURED
@given(items=st.lists(wrangler_items(), max_size=12))
def test_wrangler_valid_items_come_back_exactly(items):
    data = json.dumps([i for i, _ in items], indent=2).encode()
    recs = records(_json_source(WranglerSource, data))
    bad = [r for r in recs if isinstance(r, Bad)]
    assert not [r for r in recs if isinstance(r, KvcliError)] and not [b for b in bad if "metadata" not in b.reason]
    for rec, (item, value) in zip(recs, items, strict=True):
        if isinstance(rec, Bad):  # only metadata too long for Fastly may be refused
            assert len(json.dumps(item["metadata"], separators=(",", ":"), ensure_ascii=False).encode()) > 2000
            continue
        assert (rec.key, rec.value) == (item["key"], value)
        if "metadata" in item:
            assert json.loads(rec.metadata) == item["metadata"]
        if "expiration_ttl" in item:
            assert rec.ttl == math.ceil(item["expiration_ttl"])


@SETTINGS
@given(head=st.binary(max_size=300), name=st.sampled_from([None, "x.json", "x.ndjson", "x.toml", "x"]))
def test_format_detection_answers_or_asks_for_format(head, name):
    try:
        fmt, why = detect_format(head, name)
    except KvcliError as exc:
        from kvcli.cli.hints import worded

        assert "--format" in (worded(exc)[1] or "")  # the CLI's words; the library's hint names no flag
        return
    assert fmt in ("ndjson", "wrangler", "viceroy", "toml") and why
