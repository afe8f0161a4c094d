"""Item behaviour at the API port, the same on every adapter (see conftest: local and http→served).

The semantics follow the recorded real API: every write replaces metadata, the generation changes on every write,
append/prepend create a missing key, ``add`` and ``if_generation_match=0`` refuse an existing key (412).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from kvcli.api.errors import InvalidInput, NotFound, PreconditionFailed
from kvcli.api.models import BatchEntry, PutMode
from kvcli.api.port import iter_keys

ALL_BYTES = bytes(range(256))

AWKWARD_KEYS = [
    "a/b c%d",
    "a/b c%2Fd%e",
    "spaces  around ",
    " lead",
    "pct%d%s%%",
    'q"uote\\back',
    "ünïcødé/日本語/🙂",
    "a" * 1024,
    "é" * 512,  # 1024 bytes of UTF-8
    "tab\there",
    "a/./b",
    "...",
    "-dash",
    "x+y=z&w",
]


def keys_of(api, store_id: str, **kw) -> list[str]:
    return [k for page in iter_keys(api, store_id, **kw) for k in page.items]


# ------------------------------------------------------------------------------------------------ values and keys
@pytest.mark.parametrize(
    "value", [b"", b"hello", ALL_BYTES, ALL_BYTES[::-1] * 64, b"\x00" * 10, b"\r\n\r\n"], ids=lambda v: f"{len(v)}B"
)
def test_value_round_trips_byte_for_byte(api, store, value):
    api.put_item(store.id, "k", value)
    item = api.get_item(store.id, "k")
    assert item.value == value
    assert item.info.size == len(value)
    assert api.describe_item(store.id, "k").size == len(value)


def test_five_megabyte_value(api, store):
    value = (ALL_BYTES * (5 * 1024 * 1024 // 256 + 1))[: 5 * 1024 * 1024]
    api.put_item(store.id, "big", value)
    assert api.get_item(store.id, "big").value == value
    assert api.describe_item(store.id, "big").size == len(value)


@pytest.mark.parametrize("key", AWKWARD_KEYS, ids=range(len(AWKWARD_KEYS)))
def test_awkward_valid_keys_work_everywhere(api, store, key):
    api.put_item(store.id, key, b"v", metadata="m")
    assert api.get_item(store.id, key).value == b"v"
    info = api.describe_item(store.id, key)
    assert (info.key, info.metadata) == (key, "m")
    assert keys_of(api, store.id) == [key]
    assert keys_of(api, store.id, prefix=key) == [key]
    api.delete_item(store.id, key)
    with pytest.raises(NotFound):
        api.get_item(store.id, key)


@pytest.mark.parametrize(
    "key",
    ["a" * 1025, "é" * 512 + "a", "", ".", "..", "a\nb", "a\rb", "has#hash", "semi;colon", "q?", "up^", "pi|pe",
     ".well-known/acme-challenge/x"],
    ids=lambda k: repr(k[:20]),
)
def test_invalid_keys_are_refused(api, store, key):
    with pytest.raises(InvalidInput):
        api.put_item(store.id, key, b"v")
    assert keys_of(api, store.id) == []


def test_metadata_limits(api, store):
    api.put_item(store.id, "k", b"v", metadata="m" * 2000)
    assert api.describe_item(store.id, "k").metadata == "m" * 2000
    api.put_item(store.id, "k2", b"v", metadata="é" * 1000)  # 2000 bytes of UTF-8
    assert api.get_item(store.id, "k2").info.metadata == "é" * 1000
    for bad in ("m" * 2001, "é" * 1000 + "x", "line\nbreak", "car\rriage"):
        with pytest.raises(InvalidInput):
            api.put_item(store.id, "k", b"other", metadata=bad)
    assert api.get_item(store.id, "k").value == b"v"  # a refused write changes nothing


def test_missing_key_and_missing_store(api, store):
    with pytest.raises(NotFound):
        api.get_item(store.id, "nope")
    with pytest.raises(NotFound):
        api.describe_item(store.id, "nope")
    with pytest.raises(NotFound):
        api.delete_item(store.id, "nope")
    missing = "nosuchstore0000000000000"
    with pytest.raises(NotFound):
        api.put_item(missing, "k", b"v")
    with pytest.raises(NotFound):
        api.get_item(missing, "k")
    with pytest.raises(NotFound):
        api.list_keys(missing)
    with pytest.raises(NotFound):
        api.delete_item(missing, "k", force=True)


# ------------------------------------------------------------------------------------------- metadata, generations
def test_every_write_replaces_metadata_and_changes_the_generation(api, store):
    api.put_item(store.id, "k", b"one", metadata="meta")
    g1 = api.describe_item(store.id, "k").generation
    api.put_item(store.id, "k", b"two")
    info = api.describe_item(store.id, "k")
    assert info.metadata == ""
    assert info.generation != g1
    api.put_item(store.id, "k", b"two", metadata="again")  # same value, new metadata
    g3 = api.describe_item(store.id, "k").generation
    assert g3 not in (g1, info.generation)
    assert api.get_item(store.id, "k").info.generation == g3


def test_generation_is_an_unsigned_64_bit_number(api, store):
    api.put_item(store.id, "k", b"v")
    gen = api.describe_item(store.id, "k").generation
    assert isinstance(gen, int) and 0 < gen < 2**64


def test_put_if_generation_match(api, store):
    api.put_item(store.id, "k", b"v1")
    gen = api.describe_item(store.id, "k").generation
    with pytest.raises(PreconditionFailed):
        api.put_item(store.id, "k", b"v2", if_generation_match=gen + 1)
    assert api.get_item(store.id, "k").value == b"v1"
    api.put_item(store.id, "k", b"v2", if_generation_match=gen)
    assert api.get_item(store.id, "k").value == b"v2"
    with pytest.raises(PreconditionFailed):  # the old generation is stale now
        api.put_item(store.id, "k", b"v3", if_generation_match=gen)


def test_put_if_generation_match_zero_means_must_not_exist(api, store):
    api.put_item(store.id, "new", b"v", if_generation_match=0)
    assert api.get_item(store.id, "new").value == b"v"
    with pytest.raises(PreconditionFailed):
        api.put_item(store.id, "new", b"w", if_generation_match=0)
    assert api.get_item(store.id, "new").value == b"v"


def test_add_refuses_an_existing_key(api, store):
    api.put_item(store.id, "k", b"first", mode=PutMode.ADD)
    with pytest.raises(PreconditionFailed):
        api.put_item(store.id, "k", b"second", mode=PutMode.ADD)
    assert api.get_item(store.id, "k").value == b"first"


def test_append_and_prepend(api, store):
    api.put_item(store.id, "a", b"mid", mode=PutMode.APPEND)  # creates the missing key
    assert api.get_item(store.id, "a").value == b"mid"
    api.put_item(store.id, "a", b"-end", mode=PutMode.APPEND)
    api.put_item(store.id, "a", b"start-", mode=PutMode.PREPEND, metadata="m")
    item = api.get_item(store.id, "a")
    assert item.value == b"start-mid-end"
    assert item.info.metadata == "m"
    api.put_item(store.id, "a", b"!", mode=PutMode.APPEND)  # no metadata → metadata cleared, as the real API does
    assert api.get_item(store.id, "a").info.metadata == ""
    api.put_item(store.id, "p", ALL_BYTES, mode=PutMode.PREPEND)
    api.put_item(store.id, "p", b"\x00", mode=PutMode.PREPEND)
    assert api.get_item(store.id, "p").value == b"\x00" + ALL_BYTES


def test_background_fetch_is_accepted(api, store):
    api.put_item(store.id, "k", b"v", background_fetch=True)
    assert api.get_item(store.id, "k").value == b"v"


def test_describe_reports_last_modified(api, store):
    api.put_item(store.id, "k", b"v")
    info = api.describe_item(store.id, "k")
    assert info.last_modified is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert info.expires_at is None


def test_ttl_sets_an_expiry(api, store):
    before = time.time()
    api.put_item(store.id, "k", b"v", ttl=3600)
    info = api.describe_item(store.id, "k")
    assert info.expires_at is not None
    assert before + 3600 - 5 <= info.expires_at.timestamp() <= time.time() + 3600 + 5
    api.put_item(store.id, "k", b"v2")  # a write without TTL keeps the key forever
    assert api.describe_item(store.id, "k").expires_at is None


@pytest.mark.parametrize("ttl", [0, -1])
def test_bad_ttl_is_refused(api, store, ttl):
    with pytest.raises(InvalidInput):
        api.put_item(store.id, "k", b"v", ttl=ttl)


# ------------------------------------------------------------------------------------------------------- delete
def test_delete(api, store):
    api.put_item(store.id, "k", b"v")
    api.delete_item(store.id, "k")
    with pytest.raises(NotFound):
        api.get_item(store.id, "k")
    with pytest.raises(NotFound):
        api.delete_item(store.id, "k")
    api.delete_item(store.id, "k", force=True)  # missing + force: fine


def test_delete_if_generation_match(api, store):
    api.put_item(store.id, "k", b"v")
    gen = api.describe_item(store.id, "k").generation
    with pytest.raises(PreconditionFailed):
        api.delete_item(store.id, "k", if_generation_match=gen + 1)
    assert api.get_item(store.id, "k").value == b"v"
    api.delete_item(store.id, "k", if_generation_match=gen)
    with pytest.raises(NotFound):
        api.get_item(store.id, "k")


# -------------------------------------------------------------------------------------------------------- listing
def _fill(api, store_id: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        result = api.put_batch(store_id, [BatchEntry(key=k, value=b"") for k in keys[i : i + 1000]])
        assert not result.errors


def test_list_three_thousand_keys_across_pages_with_prefix_and_cursor(api, store):
    a_keys = [f"a/{i:05d}" for i in range(2000)]
    b_keys = [f"b/{i:05d}" for i in range(1000)]
    _fill(api, store.id, b_keys + a_keys)

    first = api.list_keys(store.id)
    assert first.items == a_keys[:1000]  # default page size 1000, byte order
    assert first.next_cursor
    assert keys_of(api, store.id) == a_keys + b_keys

    assert keys_of(api, store.id, prefix="b/") == b_keys
    assert keys_of(api, store.id, prefix="a/", page_size=700) == a_keys
    assert keys_of(api, store.id, prefix="a/0001") == [k for k in a_keys if k.startswith("a/0001")]
    assert keys_of(api, store.id, prefix="zzz") == []

    # resume from a cursor: nothing repeated, nothing skipped
    page = api.list_keys(store.id, prefix="a/", limit=1234)
    assert page.items == a_keys[:1234] and page.next_cursor
    rest = keys_of(api, store.id, prefix="a/", cursor=page.next_cursor)
    assert rest == a_keys[1234:]

    last = api.list_keys(store.id, prefix="b/", limit=1000)
    assert last.items == b_keys and not last.next_cursor  # no cursor on the last page


def test_list_order_is_bytewise(api, store):
    keys = ["b", "B", "a", "ä", "Z", "aa", "a/b", "a-b", "~", "日本", "🙂"]
    for k in keys:
        api.put_item(store.id, k, b"")
    assert keys_of(api, store.id) == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_list_consistency(api, store):
    api.put_item(store.id, "k", b"v")
    assert api.list_keys(store.id, consistency="eventual").items == ["k"]
    assert api.list_keys(store.id, consistency="strong").items == ["k"]
    with pytest.raises(InvalidInput):
        api.list_keys(store.id, consistency="sometimes")


def test_list_bad_cursor_is_refused(api, store):
    api.put_item(store.id, "k", b"v")
    with pytest.raises(InvalidInput):
        api.list_keys(store.id, cursor="not a cursor!")


def test_unicode_prefix(api, store):
    for k in ("日本/1", "日本/2", "日本語", "日"):
        api.put_item(store.id, k, b"")
    assert keys_of(api, store.id, prefix="日本") == ["日本/1", "日本/2", "日本語"]


# ---------------------------------------------------------------------------------------- engine-only: a clock
class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(tmp_path):
    """The local adapter over an engine whose clock the test moves (TTL expiry without sleeping)."""
    from kvcli.api.local import LocalAdapter
    from kvcli.local.engine import Engine

    clock = Clock()
    adapter = LocalAdapter(Engine(tmp_path / "clocked.db", clock=clock))
    yield adapter, clock
    adapter.close()


def test_ttl_expiry_hides_the_key(clocked):
    api, clock = clocked
    sid = api.create_store("ttl").id
    api.put_item(sid, "short", b"v", ttl=10)
    api.put_item(sid, "forever", b"v")
    info = api.describe_item(sid, "short")
    assert info.expires_at.timestamp() == pytest.approx(clock.now + 10)
    clock.now += 9.5
    assert api.get_item(sid, "short").value == b"v"
    assert keys_of(api, sid) == ["forever", "short"]
    clock.now += 1
    for call in (api.get_item, api.describe_item, api.delete_item):
        with pytest.raises(NotFound):
            call(sid, "short")
    assert keys_of(api, sid) == ["forever"]
    api.delete_item(sid, "short", force=True)
    # an expired key counts as absent for add, and append starts from nothing
    api.put_item(sid, "short", b"new", mode=PutMode.ADD)
    assert api.get_item(sid, "short").value == b"new"


def test_ttl_rewrite_restarts_the_clock_and_append_keeps_no_old_ttl(clocked):
    api, clock = clocked
    sid = api.create_store("ttl2").id
    api.put_item(sid, "k", b"a", ttl=10)
    clock.now += 8
    api.put_item(sid, "k", b"b", ttl=10, mode=PutMode.APPEND)
    clock.now += 8
    assert api.get_item(sid, "k").value == b"ab"
    clock.now += 3
    with pytest.raises(NotFound):
        api.get_item(sid, "k")
    api.put_item(sid, "k", b"x", ttl=5)
    api.put_item(sid, "k", b"y")  # no TTL: forever
    clock.now += 100
    assert api.get_item(sid, "k").value == b"y"


def test_store_with_only_expired_keys_can_be_deleted(clocked):
    api, clock = clocked
    sid = api.create_store("ttl3").id
    api.put_item(sid, "k", b"v", ttl=1)
    clock.now += 2
    api.delete_store(sid)


def test_local_describe_does_not_read_the_value(clocked):
    api, _clock = clocked
    sid = api.create_store("desc").id
    api.put_item(sid, "k", b"x" * 100_000)
    statements: list[str] = []
    conn = api.engine.conn
    conn.set_trace_callback(statements.append)
    try:
        info = api.describe_item(sid, "k")
    finally:
        conn.set_trace_callback(None)
    assert info.size == 100_000
    selects = [s for s in statements if s.startswith("SELECT") and " items" in s]  # the item's row, with its store
    assert selects and not any("value" in s.split("FROM")[0] for s in selects)


# ------------------------------------------------------------------------------------------------------ imports
def test_a_bulk_import_from_worker_threads_stores_every_entry(api, store, tmp_path):
    """The import's worker threads share one adapter (on http-light: one light session, a connection per thread in
    use); small batches keep several requests in flight. Every entry, bad ones refused one by one, ends up the same."""
    import base64
    import json

    from kvcli.ops.imports import ImportRequest, run_import

    lines = [json.dumps({"key": f"i{i:03d}", "value": base64.b64encode(b"v%d" % i).decode()}) for i in range(120)]
    lines[7] = json.dumps({"key": "", "value": ""})
    src = tmp_path / "in.ndjson"
    src.write_text("\n".join(lines) + "\n")
    job = run_import(api, store.id, ImportRequest(file=str(src), batch_entries=7, concurrency=4, metadata="m"))
    assert job.fatal is None and (job.report.written, job.report.failed) == (119, 1)
    expected = {f"i{i:03d}" for i in range(120)} - {"i007"}
    assert {k for page in iter_keys(api, store.id) for k in page.items} == expected
    got = api.get_item(store.id, "i100")
    assert (got.value, got.metadata) == (b"v100", "m")
