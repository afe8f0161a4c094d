"""Hypothesis fuzzing of `kvcli local serve`'s request handling (the Starlette app, in-process).

Random methods, paths (real routes with random segments, percent-encodings, dot segments, Unicode), query strings,
headers (metadata, generations, TTLs, keys, content types) and bodies (random bytes and NDJSON-like batches): the
server never answers 500 and never puts a traceback in a body, and every error body is Fastly's JSON error shape.
``KVCLI_FUZZ_EXAMPLES`` sets the number of examples (default 300).
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcli.api import wire

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore:Using .httpx. with .starlette.testclient."
)

EXAMPLES = int(os.environ.get("KVCLI_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                  HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def app_and_store(tmp_path_factory):
    from starlette.testclient import TestClient

    from kvcli.local.engine import Engine
    from kvcli.local.server import create_app

    engine = Engine.in_dir(tmp_path_factory.mktemp("fuzz-server"))
    sid = engine.create_store("fuzz").id
    engine.put_item(sid, "present", b"value", metadata="m")
    app = create_app(engine)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client, sid
    engine.close()


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
segment = st.one_of(
    text, st.sampled_from(["", ".", "..", "%2F", "%2e%2E", "%00", "%ff", "%", "keys", "batch", "kv", "stores",
                           "a/b", "é", "\x7f", "~", "+", " "]),
)


@st.composite
def paths(draw, sid: str) -> str:
    """Mostly real routes on the real store (so the handlers run), sometimes anything."""
    store = draw(st.sampled_from([sid] * 6 + ["nope", "", "%20", "x" * 300]) | text)
    key = draw(segment)
    shapes = [
        ["resources", "stores", "kv", store, "keys", key],
        ["resources", "stores", "kv", store, "keys", key],
        ["resources", "stores", "kv", store, "keys", key],
        ["resources", "stores", "kv", store, "keys"],
        ["resources", "stores", "kv", store, "batch"],
        ["resources", "stores", "kv", store],
        ["resources", "stores", "kv"],
        ["service"], ["service", draw(segment), "version", draw(segment)],
        ["realms", "fastly", ".well-known", "openid-configuration"],
    ]
    base = draw(st.sampled_from(shapes))
    tail = draw(st.lists(segment, max_size=2)) if draw(st.integers(0, 9)) == 0 else []
    raw = draw(st.booleans())
    parts = [p if raw and all(c.isalnum() or c in "-._~%" for c in p) else quote(p, safe="") for p in base + tail]
    return "/" + "/".join(parts) + draw(st.sampled_from(["", "", "", "/", "//"]))


query_values = st.one_of(text, st.sampled_from(["true", "false", "1", "0", "", "-1", "99999999999999999999",
                                                "18446744073709551616", "strong", "eventual", "CgA=", "!!"]))
queries = st.dictionaries(
    st.sampled_from(["prefix", "cursor", "limit", "consistency", "add", "append", "prepend", "force",
                     "background_fetch", "location", "name", "page", "per_page", "version", "x"]),
    query_values, max_size=4,
)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40),
    st.sampled_from(["0", "1", "-1", "18446744073709551615", "18446744073709551616", "9223372036854775808",
                     "99999999999999999999999", "nan", "1e3", " 5 ", "application/json", wire.CT_NDJSON]),
)
headers = st.dictionaries(
    st.sampled_from([wire.H_METADATA, wire.H_IF_GENERATION_MATCH, wire.H_TTL, "time-to-live-sec", wire.H_KEY,
                     "content-type", "accept", "x-other"]),
    header_values, max_size=4,
)


@st.composite
def batch_bodies(draw) -> bytes:
    def one() -> dict:
        obj = draw(st.dictionaries(st.sampled_from(["key", "value", "metadata", "time_to_live_sec",
                                                    "background_fetch", "x"]),
                                   st.one_of(text, st.integers(), st.booleans(), st.none(),
                                             st.sampled_from(["YQ==", "***", "", "=="])), max_size=5))
        return obj

    lines = [json.dumps(one()) if draw(st.booleans()) else draw(text | odd_records)
             for _ in range(draw(st.integers(0, 5)))]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# records that once gave a 500: lone surrogate escapes, nesting past the parser's recursion limit, huge integers
odd_records = st.sampled_from([
    '{"key":"k\\ud800","value":"YQ=="}', '{"key":"k","value":"YQ==","metadata":"\\udfff"}', "[" * 5000,
    '{"key":"d","value":"YQ==","x":' + "[" * 5000 + "]" * 5000 + "}",
    '{"key":"t","value":"YQ==","time_to_live_sec":' + "9" * 5000 + "}",
])


bodies = st.one_of(st.binary(max_size=200), batch_bodies(), st.just(b""), st.just(b'{"name": "x"}'))


@SETTINGS
@given(data=st.data())
def test_random_requests_never_get_a_500_or_a_traceback(app_and_store, data):
    client, sid = app_and_store
    method = data.draw(st.sampled_from(["GET", "GET", "HEAD", "PUT", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]))
    path = data.draw(paths(sid))
    params = data.draw(st.just({}) | queries)
    hdrs = {k: v.encode("latin-1") for k, v in data.draw(st.just({}) | headers).items()}  # raw bytes on the wire
    body = data.draw(bodies) if method in ("PUT", "POST", "PATCH", "DELETE") else b""
    r = client.request(method, path, params=params, headers=hdrs, content=body)
    assert r.status_code < 500, (method, path, params, hdrs, body[:200], r.status_code, r.text[:500])
    assert "Traceback" not in r.text
    if r.status_code >= 400 and method != "HEAD" and r.content:
        problem = r.json()  # an error body is JSON, never an HTML or text page
        assert isinstance(problem, dict)


@SETTINGS
@given(body=batch_bodies())
def test_random_batches_are_answered_line_by_line(app_and_store, body):
    client, sid = app_and_store
    r = client.put(f"/resources/stores/kv/{sid}/batch", content=body, headers={"content-type": wire.CT_NDJSON})
    assert r.status_code in (200, 400), r.text[:500]
    answer = r.json()
    if r.status_code == 400:
        assert answer["errors"] and all({"index", "key", "code", "reason"} <= set(e) for e in answer["errors"])


# ------------------------------------------------------------------------------------- the streaming batch parser
def reference_parse(body: bytes) -> list[tuple]:
    """The batch format parsed the simple way, from the whole body at once (what the streaming parser must match)."""
    from kvcli.local.server import NESTED_TOO_DEEPLY, json_problem
    from kvcli.local.server_batch import _WS, _batch_entry, _next_record

    text = body.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()
    out: list[tuple] = []
    pos, index, n = 0, 0, len(text)
    while True:
        while pos < n and text[pos] in _WS:
            pos += 1
        if pos >= n:
            return out
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            problem = json_problem(exc) if isinstance(exc, ValueError) else NESTED_TOO_DEEPLY
            out.append((index, "error", "", f"invalid JSON: {problem}"))
            pos = _next_record(text, pos)
        else:
            entry, key, problem = _batch_entry(obj)
            out.append((index, "error", key, problem) if entry is None else (index, "ok", entry))
        index += 1


def as_tuples(records) -> list[tuple]:
    from kvcli.api.models import BatchError

    return [(r.index, "error", r.key, r.reason) if isinstance(r, BatchError) else (r[0], "ok", r[1]) for r in records]


@st.composite
def record_texts(draw) -> str:
    obj = {"key": draw(text), "value": draw(st.sampled_from(["YQ==", "", "!!", "eHl6"]))}
    if draw(st.booleans()):
        obj["metadata"] = draw(text)
    style = draw(st.sampled_from(["compact", "indent", "two", "broken", "garbage", "blank", "odd", "array"]))
    if style == "compact":
        return json.dumps(obj, ensure_ascii=draw(st.booleans()))
    if style == "indent":
        return json.dumps(obj, indent=draw(st.sampled_from([1, 2, 4])))
    if style == "two":
        return json.dumps(obj) + draw(st.sampled_from([" ", "", "\t"])) + json.dumps(obj)
    if style == "broken":
        whole = json.dumps(obj, indent=draw(st.sampled_from([None, 2])))
        return whole[: draw(st.integers(0, len(whole)))]
    if style == "garbage":
        return draw(text)
    if style == "blank":
        return draw(st.sampled_from(["", " ", "\r", "\t \r"]))
    if style == "array":
        return "[" + json.dumps(obj) + "]"
    return draw(odd_records)


@SETTINGS
@given(data=st.data())
def test_the_streaming_batch_parser_agrees_with_parsing_the_whole_body(data):
    """Any body, cut into any chunks (even inside a UTF-8 character or a record), gives the same records, errors and
    indexes as parsing the whole text at once."""
    from kvcli.local.server_batch import BatchParser

    lines = data.draw(st.lists(record_texts(), max_size=12))
    sep = data.draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    body = sep.join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        body += data.draw(st.sampled_from([b"\xff", b"\xc3", b"\n", b"\xef\xbb\xbf"]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    parser = BatchParser(limit=10**9)
    records = []
    last = 0
    for cut in [*cuts, len(body)]:
        records += parser.feed(body[last:cut])
        last = cut
    records += parser.finish()
    assert as_tuples(records) == reference_parse(body)
    assert parser.index == len(records)
