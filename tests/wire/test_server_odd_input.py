"""Inputs that used to give a 500 and a traceback from `kvcli local serve` (issue 12, item 10): a lone surrogate in a
batch key or in a store or service name, deeply nested JSON, an integer with more digits than Python converts. Each
is a 400 for that record (or request), and a batch's valid records are still written."""

from __future__ import annotations

import json

import pytest

from kvcli.local.engine import Engine

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STORES = "/resources/stores/kv"
GOOD = '{"key":"good","value":"Z29vZA=="}'


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "kv.db")
    yield eng
    eng.close()


@pytest.fixture
def sid(engine) -> str:
    return engine.create_store("odd").id


def refused(r, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text and "Error:" not in r.text.split(":", 1)[0]
    body = r.json()
    assert set(body) <= {"msg", "detail"} and body["msg"], body
    return body


def batch(client, sid: str, body: str | bytes):
    return client.put(f"{STORES}/{sid}/batch", content=body.encode() if isinstance(body, str) else body)


@pytest.mark.parametrize(
    "record, reason",
    [
        ('{"key":"lone-\\ud800","value":"eA=="}', "Unicode"),
        ('{"key":"lone-\\udfff-low","value":"eA=="}', "Unicode"),
        ('{"key":"meta","value":"eA==","metadata":"m\\ud800"}', "Unicode"),
        ('{"key":"deep","value":"eA==","x":' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ("[" * 100_000, "nested"),
        ('{"key":"ttl","value":"eA==","time_to_live_sec":' + "9" * 5000 + "}", "digits"),
        ('{"key":"float","value":"eA==","time_to_live_sec":1' + "0" * 5000 + ".5}", "time_to_live_sec"),
    ],
    ids=["key-surrogate", "key-low-surrogate", "metadata-surrogate", "nested-field", "nested-array", "ttl-digits",
         "ttl-huge-float"],
)
def test_odd_batch_records_are_a_400_for_that_record_and_the_rest_is_written(client, sid, engine, record, reason):
    r = batch(client, sid, GOOD + "\n" + record + "\n" + GOOD.replace("good", "after"))
    assert r.status_code == 400, r.text
    assert "Traceback" not in r.text
    errors = r.json()["errors"]
    assert [e["index"] for e in errors] == [1], errors
    assert errors[0]["code"] == "400" and reason in errors[0]["reason"], errors
    json.dumps(errors, ensure_ascii=False).encode("utf-8")  # the answer itself is valid UTF-8
    assert engine.list_keys(sid).items == ["after", "good"]


@pytest.mark.parametrize(
    "body",
    [
        '{"name":"lone-\\ud800"}',
        '{"name":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"name":"n","x":' + "9" * 5000 + "}",
    ],
    ids=["surrogate", "nested", "digits"],
)
def test_odd_store_names_are_a_400(client, engine, sid, body):
    refused(client.post(STORES, content=body, headers={"content-type": "application/json"}))
    refused(client.put(f"{STORES}/{sid}", content=body, headers={"content-type": "application/json"}))
    assert [s.name for s in engine.list_stores().items] == ["odd"]


@pytest.mark.parametrize(
    "body",
    ['{"name":"svc-\\ud800"}', '{"name":"svc","comment":"c\\udc80"}', '{"name":' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["name-surrogate", "comment-surrogate", "nested"],
)
def test_odd_service_names_are_a_400(client, engine, body):
    refused(client.post("/service", content=body, headers={"content-type": "application/json"}))
    assert engine.list_services() == []
