"""`kvcli local serve` batch endpoint `PUT …/batch` (fastly-api reference §3.9, §7.3).

Decision (the recordings do not say): records that are valid are written even when others fail; any failure answers
400 with the batch body `{"type":"error","title":…,"errors":[{key,index,code:"400",reason}]}`.
"""

from __future__ import annotations

import base64
import json

import pytest

from kvcli.local.engine import Engine
from kvcli.local.server_batch import parse_batch
from tests.wire.conftest import T0

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SUCCESS = b'{"type":"","title":"success","errors":[]}'


@pytest.fixture
def engine(tmp_path, clock):
    eng = Engine(tmp_path / "kv.db", clock=clock, max_value_bytes=32)
    yield eng
    eng.close()


@pytest.fixture
def sid(engine) -> str:
    return engine.create_store("batch-store").id


def batch(client, sid: str, body: bytes | str):
    if isinstance(body, str):
        body = body.encode()
    return client.put(
        f"/resources/stores/kv/{sid}/batch", content=body, headers={"content-type": "application/x-ndjson"}
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def line(**fields) -> str:
    return json.dumps(fields)


def test_the_recorded_batch_request_succeeds_with_the_recorded_body(client, sid, engine):
    body = '{"key":"batch-1","value":"VkFMVUU="}\n    {"key":"batch-2","value":"VkFMVUU="}'  # verbatim, no final \n
    r = batch(client, sid, body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == SUCCESS and r.headers["content-length"] == "41"
    assert engine.get_item(sid, "batch-1").value == b"VALUE"
    assert engine.get_item(sid, "batch-2").value == b"VALUE"


def test_blank_lines_crlf_and_indentation_are_tolerated(client, sid, engine):
    body = "\n\r\n  " + line(key="a", value=b64(b"1")) + "\r\n\n\n\t" + line(key="b", value=b64(b"2")) + "\n\n"
    assert batch(client, sid, body).content == SUCCESS
    assert engine.list_keys(sid).items == ["a", "b"]


def test_pretty_printed_records_are_accepted(client, sid, engine):
    body = (
        json.dumps({"key": "p1", "value": b64(b"x")}, indent=2)
        + "\n"
        + json.dumps({"key": "p2", "value": b64(b"y")}, indent=2)
    )
    assert batch(client, sid, body).content == SUCCESS
    assert engine.get_item(sid, "p2").value == b"y"


def test_metadata_ttl_and_background_fetch_are_applied(client, sid, engine, clock):
    body = "\n".join(
        [
            line(key="m", value=b64(b"\x00\xffbin"), metadata="Up to 2000B of data"),
            line(key="t", value=b64(b"kvstore\n"), time_to_live_sec=60, metadata=None, background_fetch=True),
        ]
    )
    assert batch(client, sid, body).content == SUCCESS
    item = engine.get_item(sid, "m")
    assert item.value == b"\x00\xffbin" and item.info.metadata == "Up to 2000B of data"
    assert engine.describe_item(sid, "t").expires_at.timestamp() == T0 + 60
    clock.now += 61
    assert engine.list_keys(sid).items == ["m"]


def test_an_empty_batch_succeeds(client, sid):
    assert batch(client, sid, b"").content == SUCCESS
    assert batch(client, sid, b"\n \n").content == SUCCESS


def test_bad_records_are_reported_by_index_and_good_ones_are_written(client, sid, engine):
    records = [
        line(key="ok-0", value=b64(b"0")),  # 0
        '{"key": "broken", "value": ',  # 1: not JSON
        line(key="no-value"),  # 2
        line(key="bad64", value="***"),  # 3
        line(key="bad#key", value=b64(b"x")),  # 4
        line(key="meta", value=b64(b"x"), metadata="m" * 2001),  # 5
        line(key="ttl", value=b64(b"x"), time_to_live_sec=-1),  # 6
        line(value=b64(b"x")),  # 7: no key
        "[1, 2]",  # 8: not an object
        line(key="big", value=b64(b"x" * 33)),  # 9: over the 32-byte limit
        line(key="ok-10", value=b64(b"10")),  # 10
    ]
    r = batch(client, sid, "\n".join(records) + "\n")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["type"] == "error" and body["title"]
    errors = body["errors"]
    assert [e["index"] for e in errors] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert all(set(e) == {"key", "index", "code", "reason"} and e["code"] == "400" and e["reason"] for e in errors)
    by_index = {e["index"]: e for e in errors}
    assert by_index[1]["key"] == "" and "JSON" in by_index[1]["reason"]
    assert by_index[3]["key"] == "bad64" and "base64" in by_index[3]["reason"]
    assert by_index[4]["key"] == "bad#key"
    assert by_index[7]["key"] == ""
    assert engine.list_keys(sid).items == ["ok-0", "ok-10"]  # good records were applied


def test_parsing_resumes_after_a_broken_line(client, sid, engine):
    body = '{"key":"a","value":"YQ=="}\n{"key": "b", oops}\n{"key":"c","value":"Yw=="}\n'
    r = batch(client, sid, body)
    assert r.status_code == 400
    assert [e["index"] for e in r.json()["errors"]] == [1]
    assert engine.list_keys(sid).items == ["a", "c"]


def test_a_batch_for_an_unknown_store_is_404(client):
    body = line(key="a", value=b64(b"1"))
    r = batch(client, "nosuchstore0000000000000", body)
    assert r.status_code == 404 and set(r.json()) <= {"msg", "detail"}
    r = batch(client, "nosuchstore0000000000000", "not json")
    assert r.status_code == 404


def test_the_last_duplicate_key_wins(client, sid, engine):
    body = "\n".join([line(key="d", value=b64(b"first")), line(key="d", value=b64(b"second"))])
    assert batch(client, sid, body).content == SUCCESS
    assert engine.get_item(sid, "d").value == b"second"


def test_a_chunked_upload_like_the_official_cli(client, sid, engine):
    def stream():
        for i in range(50):
            yield (line(key=f"s{i:02d}", value=b64(str(i).encode())) + "\n").encode()

    r = client.put(f"/resources/stores/kv/{sid}/batch", content=stream())  # no Content-Length: chunked
    assert r.content == SUCCESS
    assert len(engine.list_keys(sid).items) == 50


def test_parse_batch_counts_records_not_blank_lines():
    good, errors, total = parse_batch(b'\n\n{"key":"a","value":""}\n\n\n{"key":"b","value":"!"}\n')
    assert total == 2
    assert [(i, e.key) for i, e in good] == [(0, "a")]
    assert [(e.index, e.key) for e in errors] == [(1, "b")]


def test_parse_batch_keeps_invalid_utf8_detectable():
    good, errors, _ = parse_batch(b'{"key":"k\xff","value":""}')
    assert len(good) == 1
    key = good[0][1].key
    with pytest.raises(UnicodeEncodeError):
        key.encode("utf-8")  # the engine's key rules then refuse it


def test_invalid_utf8_key_is_reported(client, sid, engine):
    r = batch(client, sid, b'{"key":"k\xff","value":""}\n{"key":"fine","value":""}')
    assert r.status_code == 400
    assert [(e["index"], e["key"]) for e in r.json()["errors"]] == [(0, "k\ufffd")]
    assert engine.list_keys(sid).items == ["fine"]
