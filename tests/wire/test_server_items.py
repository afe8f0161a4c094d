"""`kvcli local serve` item and key-list endpoints against the recorded exchanges (fastly-api reference §3, §7.3)."""

from __future__ import annotations

import re

import pytest

from kvcli.api.models import BatchEntry
from kvcli.api.wire import decode_cursor
from kvcli.local.engine import Engine
from tests.wire.conftest import T0

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")



@pytest.fixture
def engine(tmp_path, clock):
    eng = Engine(tmp_path / "kv.db", clock=clock, max_value_bytes=64)
    yield eng
    eng.close()


@pytest.fixture
def sid(engine) -> str:
    return engine.create_store("kv-store-test-store").id


def keys(sid: str) -> str:
    return f"/resources/stores/kv/{sid}/keys"


def legacy(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) <= {"msg", "detail"} and body["msg"], body
    return body


def empty_412(r) -> None:
    assert r.status_code == 412, r.text
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    assert "content-type" not in r.headers


# ---------------------------------------------------------------------------------------------- PUT and GET
def test_put_is_200_with_an_empty_body_and_no_generation(client, sid):
    r = client.put(f"{keys(sid)}/apple", content=b"apple0")
    assert r.status_code == 200
    assert r.content == b"" and r.headers["content-length"] == "0"
    assert "content-type" not in r.headers and "generation" not in r.headers


def test_get_has_the_recorded_headers(client, sid, engine):
    client.put(f"{keys(sid)}/apple", content=b"prefixapple0", headers={"metadata": "meta"})
    r = client.get(f"{keys(sid)}/apple")
    assert r.status_code == 200
    assert r.content == b"prefixapple0"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == "12" and r.headers["stored-content-length"] == "12"
    assert r.headers["metadata"] == "meta"
    assert r.headers["last-modified"] == "Mon, 23 Jun 2025 19:41:16 GMT"
    gen = r.headers["generation"]
    assert gen.isdigit() and int(gen) == engine.describe_item(sid, "apple").generation
    assert int(gen) // 1_000_000 == int(T0)  # µs since the epoch, like Fastly's
    assert "kvcli-expires-at" not in r.headers


def test_metadata_header_is_present_and_empty_without_metadata(client, sid):
    client.put(f"{keys(sid)}/plain", content=b"v")
    r = client.get(f"{keys(sid)}/plain")
    assert "metadata" in r.headers and r.headers["metadata"] == ""


def test_the_recorded_write_sequence(client, sid):
    """create-keys → add (412) → prepend with metadata → stale if-generation-match (412) → append (metadata reset)."""
    base = f"{keys(sid)}/apple"
    assert client.put(base, content=b"apple0").status_code == 200
    empty_412(client.put(base + "?add=true", content=b""))
    assert client.put(base + "?prepend=true", content=b"prefix", headers={"Metadata": "meta"}).status_code == 200
    got = client.get(base)
    assert got.content == b"prefixapple0" and got.headers["metadata"] == "meta"
    stale = int(got.headers["generation"]) + 1
    empty_412(client.put(base, content=b"x", headers={"If-Generation-Match": str(stale)}))
    assert client.put(base + "?append=true", content=b"suffix").status_code == 200
    got = client.get(base)
    assert got.content == b"prefixapple0suffix"
    assert got.headers["metadata"] == ""  # every write replaces metadata; no header means empty


@pytest.mark.parametrize("flag", ["add=true", "add=True", "add=1", "add=TRUE"])
def test_booleans_accept_true_True_and_1(client, sid, flag):
    client.put(f"{keys(sid)}/k", content=b"v")
    empty_412(client.put(f"{keys(sid)}/k?{flag}", content=b"w"))


@pytest.mark.parametrize("flag", ["add=false", "add=False", "add=0", "add="])
def test_false_booleans_do_not_set_the_flag(client, sid, flag):
    client.put(f"{keys(sid)}/k", content=b"v")
    assert client.put(f"{keys(sid)}/k?{flag}", content=b"w").status_code == 200
    assert client.get(f"{keys(sid)}/k").content == b"w"


def test_an_unknown_boolean_is_400(client, sid):
    legacy(client.put(f"{keys(sid)}/k?add=maybe", content=b"v"), 400)


def test_add_creates_a_missing_key_and_if_generation_match_zero_means_must_not_exist(client, sid):
    assert client.put(f"{keys(sid)}/new?add=true", content=b"1").status_code == 200
    empty_412(client.put(f"{keys(sid)}/new", content=b"2", headers={"if-generation-match": "0"}))
    assert client.put(f"{keys(sid)}/other", content=b"3", headers={"if-generation-match": "0"}).status_code == 200


def test_matching_generation_writes(client, sid):
    client.put(f"{keys(sid)}/k", content=b"v1")
    gen = client.get(f"{keys(sid)}/k").headers["generation"]
    assert client.put(f"{keys(sid)}/k", content=b"v2", headers={"if-generation-match": gen}).status_code == 200
    new_gen = client.get(f"{keys(sid)}/k").headers["generation"]
    assert int(new_gen) > int(gen)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(2**64)])
def test_a_malformed_if_generation_match_is_400(client, sid, value):
    legacy(client.put(f"{keys(sid)}/k", content=b"v", headers={"if-generation-match": value}), 400)


def test_append_and_prepend_together_are_400_and_add_wins_over_append(client, sid):
    legacy(client.put(f"{keys(sid)}/k?append=true&prepend=true", content=b"v"), 400)
    assert client.put(f"{keys(sid)}/k?add=true&append=true", content=b"v").status_code == 200
    empty_412(client.put(f"{keys(sid)}/k?add=true&append=true", content=b"w"))
    assert client.get(f"{keys(sid)}/k").content == b"v"


def test_append_and_prepend_create_missing_keys(client, sid):
    assert client.put(f"{keys(sid)}/a?append=true", content=b"x").status_code == 200
    assert client.put(f"{keys(sid)}/p?prepend=True", content=b"y").status_code == 200
    assert client.get(f"{keys(sid)}/a").content == b"x" and client.get(f"{keys(sid)}/p").content == b"y"


def test_empty_values_and_background_fetch_are_accepted(client, sid):
    assert client.put(f"{keys(sid)}/e?background_fetch=true", content=b"").status_code == 200
    r = client.get(f"{keys(sid)}/e")
    assert r.content == b"" and r.headers["stored-content-length"] == "0"


@pytest.mark.parametrize("name", ["time_to_live_sec", "Time_To_Live_Sec", "TIME_TO_LIVE_SEC", "time-to-live-sec"])
def test_ttl_header_sets_expiry_and_the_item_vanishes(client, sid, clock, name):
    assert client.put(f"{keys(sid)}/t", content=b"v", headers={name: "60"}).status_code == 200
    r = client.get(f"{keys(sid)}/t")
    assert r.headers["kvcli-expires-at"] == str(int(T0) + 60)
    clock.now += 59
    assert client.get(f"{keys(sid)}/t").status_code == 200
    clock.now += 2
    legacy(client.get(f"{keys(sid)}/t"), 404)
    assert client.get(keys(sid)).json()["data"] == []


@pytest.mark.parametrize("ttl", ["0", "-5", "soon"])
def test_invalid_ttl_is_400(client, sid, ttl):
    legacy(client.put(f"{keys(sid)}/t", content=b"v", headers={"time_to_live_sec": ttl}), 400)


def test_value_over_the_size_limit_is_413(client, sid, engine):
    assert client.put(f"{keys(sid)}/big", content=b"x" * 64).status_code == 200
    body = legacy(client.put(f"{keys(sid)}/big2", content=b"x" * 65), 413)
    assert "65" in body["detail"]
    legacy(client.put(f"{keys(sid)}/big?append=true", content=b"y"), 413)  # the result would be too large
    assert engine.get_item(sid, "big").value == b"x" * 64


def test_streamed_chunked_bodies_work_and_are_limited(client, sid):
    def chunks(n):
        for _ in range(n):
            yield b"abcd"

    assert client.put(f"{keys(sid)}/c", content=chunks(4)).status_code == 200
    assert client.get(f"{keys(sid)}/c").content == b"abcd" * 4
    legacy(client.put(f"{keys(sid)}/c2", content=chunks(17)), 413)


@pytest.mark.parametrize(
    "raw, key",
    [
        ("a%2Fb", "a/b"),
        ("a%2Fb%20c%3Fd%25e".replace("%3F", "%3A"), "a/b c:d%e"),
        ("%C3%A9t%C3%A9", "été"),
        ("dir%2F..%2Ffile", "dir/../file"),
        ("%2Fleading", "/leading"),
        ("trailing%2F", "trailing/"),
    ],
)
def test_percent_encoded_keys_are_one_segment(client, sid, engine, raw, key):
    assert client.put(f"{keys(sid)}/{raw}", content=b"v").status_code == 200
    assert engine.get_item(sid, key).value == b"v"
    assert client.get(f"{keys(sid)}/{raw}").content == b"v"
    assert client.get(keys(sid)).json()["data"] == [key]
    assert client.delete(f"{keys(sid)}/{raw}").status_code == 204


def test_an_unencoded_slash_is_not_part_of_a_key(client, sid, engine):
    engine.put_item(sid, "a/b", b"v")
    legacy(client.get(f"{keys(sid)}/a/b"), 404)  # two segments: no such endpoint


@pytest.mark.parametrize("raw", ["a%23b", "a%3Bb", "a%7Cb", "a%0Ab", ".well-known%2Facme-challenge%2Fx", "%2E%2E"])
def test_invalid_keys_are_400(client, sid, raw):
    legacy(client.put(f"{keys(sid)}/{raw}", content=b"v"), 400)


def test_non_utf8_percent_encoding_is_400(client, sid):
    legacy(client.put(f"{keys(sid)}/%FF%FE", content=b"v"), 400)


def test_overlong_metadata_is_400(client, sid):
    legacy(client.put(f"{keys(sid)}/m", content=b"v", headers={"metadata": "m" * 2001}), 400)
    assert client.put(f"{keys(sid)}/m", content=b"v", headers={"metadata": "m" * 2000}).status_code == 200


def test_missing_item_and_missing_store_are_404(client, sid):
    legacy(client.get(f"{keys(sid)}/nope"), 404)
    legacy(client.get(f"{keys('nosuchstore0000000000000')}/k"), 404)
    legacy(client.put(f"{keys('nosuchstore0000000000000')}/k", content=b"v"), 404)


def test_head_answers_get_headers_without_a_body(client, sid):
    client.put(f"{keys(sid)}/h", content=b"hello", headers={"metadata": "m"})
    r = client.head(f"{keys(sid)}/h")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == "5" and r.headers["stored-content-length"] == "5"
    assert r.headers["metadata"] == "m" and r.headers["generation"].isdigit()
    assert client.head(f"{keys(sid)}/missing").status_code == 404


# ----------------------------------------------------------------------------------------------------- DELETE
def test_delete_is_204_then_404_unless_forced(client, sid, engine):
    client.put(f"{keys(sid)}/d", content=b"v")
    r = client.delete(f"{keys(sid)}/d")
    assert r.status_code == 204 and r.content == b""
    assert engine.list_keys(sid).items == []
    legacy(client.delete(f"{keys(sid)}/d"), 404)
    for flag in ("force=true", "force=True", "force=1"):
        r = client.delete(f"{keys(sid)}/d?{flag}")
        assert r.status_code == 204 and r.content == b""


def test_delete_with_a_generation_mismatch_is_412_and_keeps_the_item(client, sid, engine):
    client.put(f"{keys(sid)}/g", content=b"v")
    gen = int(client.get(f"{keys(sid)}/g").headers["generation"])
    empty_412(client.delete(f"{keys(sid)}/g", headers={"if-generation-match": str(gen + 1)}))
    assert engine.get_item(sid, "g").value == b"v"
    assert client.delete(f"{keys(sid)}/g", headers={"if-generation-match": str(gen)}).status_code == 204


# ------------------------------------------------------------------------------------------------------- list
RECORDED_KEYS = ["apple", "banana", "batch-1", "batch-2", "carrot", "dragonfruit", "eggplant"]


@pytest.fixture
def seven(engine, sid):
    engine.put_batch(sid, [BatchEntry(key=k, value=b"v") for k in reversed(RECORDED_KEYS)])
    return sid


def test_list_is_the_recorded_body(client, seven):
    r = client.get(keys(seven) + "?consistency=strong")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"data": RECORDED_KEYS, "meta": {"limit": 1000}}
    assert "age" not in r.headers
    assert client.get(keys(seven)).json() == {"data": RECORDED_KEYS, "meta": {"limit": 1000}}


def test_list_prefix_is_echoed(client, seven):
    r = client.get(keys(seven) + "?consistency=strong&prefix=ba")
    assert r.json() == {"data": ["banana", "batch-1", "batch-2"], "meta": {"limit": 1000, "prefix": "ba"}}


def test_list_pagination_uses_the_recorded_cursor(client, seven):
    first = client.get(keys(seven) + "?consistency=strong&limit=4").json()
    assert first == {"data": RECORDED_KEYS[:4], "meta": {"limit": 4, "next_cursor": "CgdiYXRjaC0y"}}
    last = client.get(keys(seven) + "?consistency=strong&cursor=CgdiYXRjaC0y&limit=4").json()
    assert last == {"data": RECORDED_KEYS[4:], "meta": {"limit": 4}}


def test_eventual_listing_echoes_consistency_and_sends_age(client, seven):
    r = client.get(keys(seven) + "?consistency=eventual")
    assert r.json() == {"data": RECORDED_KEYS, "meta": {"limit": 1000, "consistency": "eventual"}}
    assert r.headers["age"].isdigit()


def test_more_than_1000_keys_page_at_1000(client, engine, sid):
    names = [f"k{i:05d}" for i in range(1203)]
    engine.put_batch(sid, [BatchEntry(key=k, value=b"") for k in names])
    first = client.get(keys(sid)).json()
    assert len(first["data"]) == 1000 and first["meta"]["limit"] == 1000
    assert decode_cursor(first["meta"]["next_cursor"]) == names[999]
    rest = client.get(keys(sid), params={"cursor": first["meta"]["next_cursor"]}).json()
    assert first["data"] + rest["data"] == names
    assert "next_cursor" not in rest["meta"]


def test_keys_are_ordered_bytewise(client, engine, sid):
    for k in ["é", "Z", "a", "B", "~", "a/b"]:
        engine.put_item(sid, k, b"")
    assert client.get(keys(sid)).json()["data"] == ["B", "Z", "a", "a/b", "~", "é"]


@pytest.mark.parametrize("query", ["?consistency=weak", "?cursor=bm90IGEgY3Vyc29y", "?limit=0", "?limit=x"])
def test_bad_list_parameters_are_400(client, seven, query):
    legacy(client.get(keys(seven) + query), 400)


def test_listing_an_unknown_store_is_404(client):
    legacy(client.get(keys("nosuchstore0000000000000")), 404)


def test_cursor_values_are_the_wire_format(client, seven):
    cursor = client.get(keys(seven) + "?limit=1").json()["meta"]["next_cursor"]
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", cursor) and decode_cursor(cursor) == "apple"
