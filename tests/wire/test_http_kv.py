"""The HTTP adapter's KV endpoints against httpx.MockTransport: paths, query flags, headers, bodies, pagination."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest

from kvcli import __version__
from kvcli.api import errors as E
from kvcli.api.http import HttpAdapter
from kvcli.api.models import BatchEntry, PutMode
from kvcli.api.port import iter_keys, iter_stores

#: every test on both sessions (httpx's, and the light one through tests/wire/bridge.py)
pytestmark = pytest.mark.usefixtures("http_session")
#: not on the light session: it checks the server's generator was never pulled; the bridge writes ahead into the
#: kernel's buffers
HTTPX_ONLY = {
    "test_describe_item_falls_back_to_get_without_reading_the_value",
}

TOKEN = "kv-test-token"
BASE = "/resources/stores/kv"


@pytest.fixture(autouse=True)
def _no_http_env(monkeypatch):
    for name in ("KVCLI_HTTP_MAX_ATTEMPTS", "KVCLI_HTTP_MAX_RETRY_SECONDS", "KVCLI_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


def store(i: str, name: str) -> dict:
    return {"id": i, "name": name, "created_at": "2025-06-23 19:41:15", "updated_at": "2025-06-23T19:41:16.5Z"}


class Recorder:
    """Records requests; ``answer`` maps a request to a response (default: 200, empty)."""

    def __init__(self, answer=None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda req: httpx.Response(200))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def paths(self) -> list[str]:
        return [r.url.raw_path.decode() for r in self.requests]


def make(rec: Recorder, **kw) -> HttpAdapter:
    return HttpAdapter("http://127.0.0.1:7676", TOKEN, transport=httpx.MockTransport(rec), sleep=lambda s: None, **kw)


def query(req: httpx.Request) -> dict[str, str]:
    return dict(req.url.params.multi_items())


# ---------------------------------------------------------------------------------------------- path encoding
def test_each_path_component_is_one_encoded_segment():
    rec = Recorder(lambda r: httpx.Response(200, json=store("x", "n")))
    api = make(rec)
    api.get_store("a/b c?d%e")
    assert rec.last.url.raw_path == b"/resources/stores/kv/a%2Fb%20c%3Fd%25e"
    assert api.url(["resources", "a/b c?d%e", "é"]) == "http://127.0.0.1:7676/resources/a%2Fb%20c%3Fd%25e/%C3%A9"


def test_keys_with_slashes_spaces_percent_and_unicode():
    rec = Recorder()
    api = make(rec)
    api.put_item("s1", "a/b c%e", b"v")
    api.put_item("s1", "dir/ünï/🙂", b"v")
    api.delete_item("s1", "../x", force=True)
    assert rec.paths() == [
        f"{BASE}/s1/keys/a%2Fb%20c%25e",
        f"{BASE}/s1/keys/dir%2F%C3%BCn%C3%AF%2F%F0%9F%99%82",
        f"{BASE}/s1/keys/..%2Fx?force=true",
    ]


@pytest.mark.parametrize("store_id", [".", ".."])
def test_dot_segments_do_not_vanish(store_id):
    rec = Recorder(lambda r: httpx.Response(404))
    with pytest.raises(E.NotFound):
        make(rec).get_store(store_id)
    assert rec.last.url.raw_path == f"{BASE}/{store_id.replace('.', '%2E')}".encode()


@pytest.mark.parametrize("key", [".", "..", "", "a?b", "x\ny", ".well-known/acme-challenge/t", "k" * 1025])
def test_invalid_keys_are_refused_before_any_request(key):
    rec = Recorder()
    api = make(rec)
    for call in (
        lambda: api.put_item("s1", key, b"v"),
        lambda: api.get_item("s1", key),
        lambda: api.describe_item("s1", key),
        lambda: api.delete_item("s1", key),
    ):
        with pytest.raises(E.InvalidInput):
            call()
    assert rec.requests == []


def test_empty_store_id_is_not_found_without_a_request():
    rec = Recorder()
    with pytest.raises(E.NotFound):
        make(rec).get_store("")
    assert rec.requests == []


# ------------------------------------------------------------------------------------------ query flags
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {}),
        ({"mode": PutMode.UPSERT, "background_fetch": False}, {}),
        ({"mode": PutMode.ADD}, {"add": "true"}),
        ({"mode": PutMode.APPEND}, {"append": "true"}),
        ({"mode": PutMode.PREPEND}, {"prepend": "true"}),
        ({"background_fetch": True}, {"background_fetch": "true"}),
        ({"mode": PutMode.APPEND, "background_fetch": True}, {"append": "true", "background_fetch": "true"}),
    ],
)
def test_put_flags_are_lower_case_and_only_sent_when_true(kwargs, expected):
    rec = Recorder()
    make(rec).put_item("s1", "k", b"v", **kwargs)
    assert query(rec.last) == expected


def test_delete_force_flag():
    rec = Recorder(lambda r: httpx.Response(204))
    api = make(rec)
    api.delete_item("s1", "k")
    api.delete_item("s1", "k", force=True)
    assert [query(r) for r in rec.requests] == [{}, {"force": "true"}]
    assert all(r.method == "DELETE" for r in rec.requests)


# ------------------------------------------------------------------------------------------------ headers
def test_item_put_headers_and_body():
    rec = Recorder()
    make(rec).put_item("s1", "k", b"value!", metadata="meta ünï", ttl=60, if_generation_match=1750707679010223)
    req = rec.last
    assert req.method == "PUT" and req.content == b"value!"
    raw = dict(req.headers.raw)
    assert raw[b"metadata"] == "meta ünï".encode()
    assert raw[b"if-generation-match"] == b"1750707679010223"
    assert raw[b"time_to_live_sec"] == b"60"
    assert raw[b"Content-Length"] == b"6"
    assert b"Transfer-Encoding" not in raw and b"transfer-encoding" not in raw
    assert raw[b"Content-Type"] == b"application/octet-stream"
    assert raw[b"Fastly-Key"] == TOKEN.encode()
    assert raw[b"User-Agent"] == f"kvcli/{__version__}".encode()


def test_optional_item_headers_are_omitted_and_zero_generation_is_sent():
    rec = Recorder()
    api = make(rec)
    api.put_item("s1", "k", b"")
    api.put_item("s1", "k", b"", if_generation_match=0, metadata="")
    first, second = (r.headers for r in rec.requests)
    for name in ("metadata", "if-generation-match", "time_to_live_sec"):
        assert name not in first
    assert first["content-length"] == "0"
    assert second["if-generation-match"] == "0" and second["metadata"] == ""


def test_delete_with_generation_header():
    rec = Recorder(lambda r: httpx.Response(204))
    make(rec).delete_item("s1", "k", if_generation_match=42)
    assert rec.last.headers["if-generation-match"] == "42"


@pytest.mark.parametrize("metadata", [" padded", "trailing ", "nul\x00byte", "vt\x0bchar"])
def test_metadata_a_header_cannot_carry_is_refused_before_sending(metadata):
    rec = Recorder()
    with pytest.raises(E.InvalidInput, match="cannot be sent in an HTTP header") as info:
        make(rec).put_item("s1", "k", b"v", metadata=metadata)
    assert rec.requests == [] and "batch" in info.value.hint


def test_metadata_with_inner_spaces_tabs_and_other_bytes_is_sent():
    rec = Recorder()
    make(rec).put_item("s1", "k", b"v", metadata="a b\tc \x07 \u2028 ü")
    assert dict(rec.last.headers.raw)[b"metadata"] == "a b\tc \x07 \u2028 ü".encode()


def test_invalid_generation_is_refused():
    with pytest.raises(E.InvalidInput):
        make(Recorder()).put_item("s1", "k", b"v", if_generation_match=-1)


def test_json_endpoints_ask_for_json():
    rec = Recorder(lambda r: httpx.Response(200, json={"data": [], "meta": {"limit": 1000}}))
    make(rec).list_keys("s1")
    assert rec.last.headers["accept"] == "application/json"


# ------------------------------------------------------------------------------------------------- stores
def test_create_store_with_location():
    rec = Recorder(lambda r: httpx.Response(201, json=store("x2by6k4r9xjh9pcvy7dcgk", "eu-store")))
    s = make(rec).create_store("eu-store", "EU")
    req = rec.last
    assert req.method == "POST" and req.url.raw_path == b"/resources/stores/kv?location=EU"
    assert json.loads(req.content) == {"name": "eu-store"}
    assert req.headers["content-type"] == "application/json"
    assert (s.id, s.name, s.location) == ("x2by6k4r9xjh9pcvy7dcgk", "eu-store", "EU")
    assert s.created_at == datetime(2025, 6, 23, 19, 41, 15, tzinfo=UTC)
    assert s.updated_at == datetime(2025, 6, 23, 19, 41, 16, 500000, tzinfo=UTC)  # RFC 3339 form also parsed


def test_create_store_validates_before_sending():
    rec = Recorder()
    api = make(rec)
    with pytest.raises(E.InvalidInput):
        api.create_store("")
    with pytest.raises(E.InvalidInput):
        api.create_store("ok", "MARS")
    assert rec.requests == []


def test_create_store_without_location_sends_no_query():
    rec = Recorder(lambda r: httpx.Response(201, json=store("a", "n")))
    assert make(rec).create_store("n").location is None
    assert rec.last.url.query == b""


def test_delete_store_and_rename_store():
    def answer(req):
        if req.method == "PUT":
            return httpx.Response(200)  # the documented answer has no body
        if req.method == "GET":
            return httpx.Response(200, json=store("s1", "renamed"))
        return httpx.Response(204)

    rec = Recorder(answer)
    api = make(rec)
    api.delete_store("s1")
    assert api.rename_store("s1", "renamed").name == "renamed"
    assert [(r.method, r.url.raw_path.decode()) for r in rec.requests] == [
        ("DELETE", f"{BASE}/s1"),
        ("PUT", f"{BASE}/s1"),
        ("GET", f"{BASE}/s1"),
    ]
    assert json.loads(rec.requests[1].content) == {"name": "renamed"}


def test_rename_store_uses_a_returned_store_object():
    rec = Recorder(lambda r: httpx.Response(200, json=store("s1", "new")))
    assert make(rec).rename_store("s1", "new").name == "new"
    assert len(rec.requests) == 1


def _paged(pages: list[dict]):
    """An answer that serves ``pages`` in order, checking the cursor each request carries."""

    def answer(req):
        q = query(req)
        i = int(q.get("cursor", "c0")[1:])
        return httpx.Response(200, json=pages[i])

    return answer


@pytest.mark.parametrize(
    "last_meta", [{"limit": 2}, {"limit": 2, "next_cursor": ""}, {"limit": 2, "next_cursor": None}]
)
def test_key_pagination_stops_on_absent_or_empty_cursor(last_meta):
    pages = [
        {"data": ["a", "b"], "meta": {"limit": 2, "next_cursor": "c1"}},
        {"data": ["c", "d"], "meta": {"limit": 2, "next_cursor": "c2"}},
        {"data": ["e"], "meta": last_meta},
    ]
    rec = Recorder(_paged(pages))
    api = make(rec)
    got = [k for page in iter_keys(api, "s1", prefix="p", page_size=2) for k in page.items]
    assert got == ["a", "b", "c", "d", "e"]
    assert [query(r) for r in rec.requests] == [
        {"consistency": "strong", "prefix": "p", "limit": "2"},
        {"consistency": "strong", "prefix": "p", "cursor": "c1", "limit": "2"},
        {"consistency": "strong", "prefix": "p", "cursor": "c2", "limit": "2"},
    ]


def test_list_keys_eventual_and_page_fields():
    rec = Recorder(lambda r: httpx.Response(200, json={"data": ["k"], "meta": {"limit": 1000, "next_cursor": ""}}))
    page = make(rec).list_keys("s1", consistency="eventual")
    assert page.items == ["k"] and page.next_cursor is None
    assert query(rec.last) == {"consistency": "eventual"}
    with pytest.raises(E.InvalidInput):
        make(rec).list_keys("s1", consistency="weak")
    with pytest.raises(E.InvalidInput):
        make(rec).list_keys("s1", limit=0)


@pytest.mark.parametrize("last_meta", [{"limit": 1, "total": 3}, {"limit": 1, "total": 3, "next_cursor": ""}])
def test_store_pagination_stops_on_absent_or_empty_cursor(last_meta):
    pages = [
        {"data": [store("a", "A")], "meta": {"limit": 1, "total": 3, "next_cursor": "c1"}},
        {"data": [store("b", "B")], "meta": {"limit": 1, "total": 3, "next_cursor": "c2"}},
        {"data": [store("c", "C")], "meta": last_meta},
    ]
    rec = Recorder(_paged(pages))
    assert [s.id for s in iter_stores(make(rec))] == ["a", "b", "c"]
    assert len(rec.requests) == 3
    assert make(Recorder(_paged(pages))).list_stores().total == 3


# ---------------------------------------------------------------------------------------------- find_store
def test_find_store_uses_the_name_filter():
    rec = Recorder(lambda r: httpx.Response(200, json={"data": [store("s9", "my store")], "meta": {"limit": 1000}}))
    assert make(rec).find_store("my store").id == "s9"
    assert len(rec.requests) == 1 and query(rec.last) == {"name": "my store"}


def test_find_store_checks_the_name_exactly():
    rec = Recorder(lambda r: httpx.Response(200, json={"data": [store("s9", "My-Store")], "meta": {"limit": 1000}}))
    with pytest.raises(E.NotFound, match="no KV store named 'my-store'") as info:
        make(rec).find_store("my-store")
    assert "kvcli kv-store list" in info.value.hint


def test_find_store_pages_when_the_server_ignores_the_filter():
    pages = [
        {"data": [store("a", "alpha"), store("b", "beta")], "meta": {"limit": 2, "next_cursor": "c1"}},
        {"data": [store("c", "gamma")], "meta": {"limit": 2}},
    ]

    def answer(req):
        return _paged(pages)(req)  # ``name`` is ignored, like a server without the filter

    rec = Recorder(answer)
    assert make(rec).find_store("gamma").id == "c"
    assert [query(r) for r in rec.requests] == [{"name": "gamma"}, {"cursor": "c1"}]


def test_find_store_not_found_on_empty_answer():
    rec = Recorder(lambda r: httpx.Response(200, json={"data": [], "meta": {"limit": 1000, "total": 0}}))
    with pytest.raises(E.NotFound):
        make(rec).find_store("nope")
    assert len(rec.requests) == 1


# -------------------------------------------------------------------------------------------------- items
ITEM_HEADERS = {
    "Content-Type": "application/octet-stream",
    "Generation": "1750707679010222",
    "Metadata": "meta",
    "Last-Modified": "Mon, 23 Jun 2025 19:41:19 GMT",
    "Stored-Content-Length": "12",
}


def test_get_item_reads_the_recorded_headers():
    rec = Recorder(lambda r: httpx.Response(200, content=b"prefixapple0", headers=ITEM_HEADERS))
    item = make(rec).get_item("iaa48y0oxw13s12xpfdkk9", "apple")
    assert item.value == b"prefixapple0" and item.key == "apple"
    info = item.info
    assert (info.generation, info.metadata, info.size) == (1750707679010222, "meta", 12)
    assert info.last_modified == datetime(2025, 6, 23, 19, 41, 19, tzinfo=UTC)
    assert info.expires_at is None
    assert rec.last.headers["accept"] == "application/octet-stream"


def test_get_item_expiry_extension_and_missing_optional_headers():
    headers = {"Generation": "5", "Kvcli-Expires-At": "1750707779.5"}
    rec = Recorder(lambda r: httpx.Response(200, content=b"abc", headers=headers))
    info = make(rec).get_item("s1", "k").info
    assert info.expires_at == datetime.fromtimestamp(1750707779.5, tz=UTC)
    assert info.size == 3 and info.metadata == "" and info.last_modified is None


def test_utf8_metadata_round_trips_through_headers():
    headers = {"Generation": "5", "Metadata": "ünï 🙂".encode()}
    rec = Recorder(lambda r: httpx.Response(200, content=b"", headers=headers))
    assert make(rec).get_item("s1", "k").info.metadata == "ünï 🙂"


def test_describe_item_uses_head():
    rec = Recorder(lambda r: httpx.Response(200, headers=ITEM_HEADERS))
    info = make(rec).describe_item("s1", "apple")
    assert [r.method for r in rec.requests] == ["HEAD"]
    assert info.generation == 1750707679010222 and info.size == 12


@pytest.mark.parametrize("status", [405, 501])
def test_describe_item_falls_back_to_get_without_reading_the_value(status):
    streamed = []

    class Value(httpx.SyncByteStream):
        def __iter__(self):
            streamed.append(True)
            yield b"x" * 1000

    def answer(req):
        if req.method == "HEAD":
            return httpx.Response(status)
        return httpx.Response(200, headers=ITEM_HEADERS, stream=Value())

    rec = Recorder(answer)
    api = make(rec)
    assert api.describe_item("s1", "apple").metadata == "meta"
    assert api.describe_item("s1", "apple").generation == 1750707679010222
    assert [r.method for r in rec.requests] == ["HEAD", "GET", "GET"]  # HEAD is not tried again
    assert streamed == []


def test_describe_item_does_not_trust_a_head_answer_without_item_headers():
    def answer(req):
        if req.method == "HEAD":
            return httpx.Response(200, headers={"Content-Type": "text/html"})  # e.g. a generic HEAD handler
        return httpx.Response(200, headers=ITEM_HEADERS, content=b"prefixapple0")

    rec = Recorder(answer)
    assert make(rec).describe_item("s1", "apple").generation == 1750707679010222
    assert [r.method for r in rec.requests] == ["HEAD", "GET"]


def test_describe_item_head_404_is_not_found():
    rec = Recorder(lambda r: httpx.Response(404))
    with pytest.raises(E.NotFound):
        make(rec).describe_item("s1", "k")
    assert [r.method for r in rec.requests] == ["HEAD"]


# -------------------------------------------------------------------------------------------------- batch
def test_batch_body_is_ndjson_with_base64_values():
    rec = Recorder(lambda r: httpx.Response(200, json={"type": "", "title": "success", "errors": []}))
    entries = [
        BatchEntry("hello", b"worlds\n"),
        BatchEntry("fastly", b"kvstore\n", metadata="Up to 2000B", ttl=60, background_fetch=True),
    ]
    result = make(rec).put_batch("s1", entries)
    assert (result.written, result.errors) == (2, [])
    req = rec.last
    assert (req.method, req.url.raw_path) == ("PUT", b"/resources/stores/kv/s1/batch")
    assert req.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in req.content.decode().splitlines()]
    assert lines == [
        {"key": "hello", "value": "d29ybGRzCg=="},
        {"key": "fastly", "value": "a3ZzdG9yZQo=", "metadata": "Up to 2000B", "time_to_live_sec": 60,
         "background_fetch": True},
    ]
    assert base64.b64decode(lines[1]["value"]) == b"kvstore\n"


def test_batch_accepts_the_old_empty_success_body():
    rec = Recorder(lambda r: httpx.Response(200))
    assert make(rec).put_batch("s1", [BatchEntry("a", b"1"), BatchEntry("b", b"2")]).written == 2


def test_batch_error_body_maps_lines_back_to_entries():
    body = {
        "type": "error",
        "title": "one or more errors occurred",
        "errors": [
            {"key": "", "index": 1, "code": "400", "reason": "invalid JSON"},
            {"key": "k4", "index": 3, "code": "400", "reason": "invalid base64 value"},
        ],
    }
    rec = Recorder(lambda r: httpx.Response(400, json=body))
    entries = [BatchEntry("k0", b"0"), BatchEntry("bad|key", b"1"), BatchEntry("k2", b"2"), BatchEntry("k3", b"3"),
               BatchEntry("k4", b"4")]
    result = make(rec).put_batch("s1", entries)
    assert len(rec.last.content.splitlines()) == 4  # the invalid key never went on the wire
    assert [(e.index, e.key, e.code) for e in result.errors] == [(1, "bad|key", "400"), (2, "k2", "400"),
                                                                 (4, "k4", "400")]
    assert result.errors[1].reason == "invalid JSON"
    assert result.written == 2  # 4 lines sent, 2 refused


def test_batch_whole_request_failures_raise():
    rec = Recorder(lambda r: httpx.Response(404, json={"msg": "Record not found"}))
    with pytest.raises(E.NotFound):
        make(rec).put_batch("s1", [BatchEntry("a", b"1")])
    rec = Recorder(lambda r: httpx.Response(400, json={"msg": "Bad request", "detail": "body too large"}))
    with pytest.raises(E.InvalidInput, match="body too large"):
        make(rec).put_batch("s1", [BatchEntry("a", b"1")])


def test_batch_with_nothing_valid_checks_the_store_only():
    rec = Recorder(lambda r: httpx.Response(200, json=store("s1", "n")))
    result = make(rec).put_batch("s1", [BatchEntry("..", b"1")])
    assert result.written == 0 and [e.index for e in result.errors] == [0]
    assert [r.method for r in rec.requests] == ["GET"]
