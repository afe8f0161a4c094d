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

    lines = [json.dumps(one()) if draw(st.booleans()) else draw(text) for _ in range(draw(st.integers(0, 5)))]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


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
