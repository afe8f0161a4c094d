"""`local serve`'s batch parser reads blocks of plain batch lines (kvcli/api/plain.py) without its per-record JSON
parse: what it makes of them must be exactly what the per-record parser makes of the same body, however the body
arrives in pieces, and the engine must still refuse what the limit refuses."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcli.api import validation
from kvcli.api.models import BatchEntry, BatchError
from kvcli.local import server_batch
from kvcli.local.engine import Engine
from kvcli.local.engine_batch import CheckedEntry
from kvcli.local.server_batch import BatchParser
from tests.bulk.test_lines import _lines, plain


def parse(body: bytes, cuts: list[int], limit: int) -> list[tuple]:
    parser = BatchParser(limit=limit)
    records = []
    last = 0
    for cut in [*sorted(cuts), len(body)]:
        records += parser.feed(body[last:cut])
        last = cut
    records += parser.finish()
    out: list[tuple] = []
    for r in records:
        if isinstance(r, BatchError):
            out.append(("error", r.index, r.key, r.code, r.reason))
        else:
            e = r[1]
            out.append(("entry", r[0], e.key, e.value, e.metadata, e.ttl, e.background_fetch))
    return [*out, ("records", parser.index)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_plain_lines_are_read_as_the_per_record_parser_reads_them(data):
    lines = data.draw(_lines)
    body = b"\n".join(lines) + data.draw(st.sampled_from([b"\n", b"", b"\n\n"]))
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    limit = data.draw(st.sampled_from([10**9, 120]))
    with_lane = parse(body, cuts, limit)
    original = server_batch.plain_lines
    server_batch.plain_lines = lambda _data: None  # the per-record parser only
    try:
        without = parse(body, cuts, limit)
    finally:
        server_batch.plain_lines = original
    assert with_lane == without


def test_a_body_of_plain_lines_takes_the_lane_and_gives_checked_entries():
    body = plain("a", b"1") + b"\n" + plain("b", b"22", spaced=True) + b"\n"
    records = BatchParser(limit=10**9).feed(body)
    assert [type(e) for _, e in records] == [CheckedEntry, CheckedEntry]  # type: ignore[misc]
    assert [(i, e.key, e.value) for i, e in records] == [(0, "a", b"1"), (1, "b", b"22")]  # type: ignore[misc]


@pytest.mark.parametrize("kind", [BatchEntry, CheckedEntry])
def test_the_engine_still_refuses_a_value_over_the_limit_from_a_plain_line(tmp_path, kind):
    engine = Engine.in_dir(tmp_path / "data")
    engine.max_value_bytes = 4
    store = engine.create_store("s")
    result = engine.put_batch(store.id, [kind("small", b"1234"), kind("big", b"12345")])
    assert result.written == 1
    assert [(e.index, e.key, e.reason) for e in result.errors] == [(1, "big", "value is 5 bytes; the limit is 4")]
    assert engine.get_item(store.id, "small").value == b"1234"


@pytest.mark.parametrize("key", [*"#;?^|\x7f", ".", "..", ".well-known/acme-challenge/t", "", "k" * 1025, "é"])
def test_every_key_rule_refuses_the_same_keys_with_and_without_the_lane(tmp_path, key):
    body = plain(key, b"v") + b"\n" + plain("fine", b"w") + b"\n"

    def write(engine: Engine, store: str) -> tuple:
        records = BatchParser(limit=10**9).feed(body)
        refused = [(r.index, r.key, r.reason) for r in records if isinstance(r, BatchError)]
        result = engine.put_batch(store, [r[1] for r in records if not isinstance(r, BatchError)])
        return result.written, refused, [(e.index, e.key, e.reason) for e in result.errors]

    engine = Engine.in_dir(tmp_path / "data")
    with_lane = write(engine, engine.create_store("a").id)
    original = server_batch.plain_lines
    server_batch.plain_lines = lambda _data: None
    try:
        without = write(engine, engine.create_store("b").id)
    finally:
        server_batch.plain_lines = original
    assert with_lane == without
    assert with_lane[0] == (2 if validation.key_problem(key) is None else 1)
