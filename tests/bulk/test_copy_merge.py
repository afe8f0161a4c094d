"""The pieces copy and diff are built of: the merge of two sorted listings, the order check, ordered reads with
bounded concurrency, and the batch lines copy pre-encodes."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from kvcli.api.errors import KvcliError
from kvcli.api.models import Page
from kvcli.bulk.compare import listed, merge, ordered_map
from kvcli.bulk.copy import batch_line


def test_merge_yields_every_key_once_in_order_with_its_sides():
    a = ["a", "c", "d", "f"]
    b = ["b", "c", "f", "g", "h"]
    assert list(merge(a, b)) == [("a", True, False), ("b", False, True), ("c", True, True), ("d", True, False),
                                 ("f", True, True), ("g", False, True), ("h", False, True)]
    assert list(merge([], ["x"])) == [("x", False, True)] and list(merge(["x"], [])) == [("x", True, False)]


def test_merge_order_is_utf8_byte_order():
    keys = ["a", "z", "\u00e9", "\u4e2d", "\U0001f600"]
    assert sorted(keys) == sorted(keys, key=lambda k: k.encode("utf-8"))


class Pages:
    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = pages

    def list_keys(self, store_id, prefix=None, cursor=None, limit=None, consistency="strong"):
        i = int(cursor or 0)
        return Page(self.pages[i], str(i + 1) if i + 1 < len(self.pages) else None)


def test_a_listing_out_of_order_stops_with_an_error_naming_the_keys():
    assert list(listed(Pages([["a", "b"], ["c"]]), "s")) == ["a", "b", "c"]
    with pytest.raises(KvcliError) as info:
        list(listed(Pages([["a", "c"], ["b"]]), "s", side="KV store 'x'"))
    assert "'b' came after 'c'" in info.value.message and "KV store 'x'" in info.value.message


def test_ordered_map_keeps_order_and_bounds_what_is_in_flight():
    running = [0]
    peak = [0]
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        with lock:
            running[0] -= 1
        return n * n

    pulled = [0]

    def items():
        for n in range(500):
            pulled[0] += 1
            yield n

    out = ordered_map(work, items(), 4, inline=lambda n: n % 3 == 0)
    first = next(out)
    assert first == 0 and pulled[0] <= 4 * 4 + 1  # never more than a window read ahead
    assert [first, *out] == [n * n for n in range(500)]
    assert peak[0] <= 4


@pytest.mark.parametrize("key, value, metadata", [("a", b"\x00\xff", None), ('q"\\\u00e9\n\u2028', b"xy", 'm"\t'),
                                                   ("k", b"", "")])
def test_batch_lines_decode_to_the_entry(key, value, metadata):
    obj = json.loads(batch_line(key, value, metadata))
    assert obj["key"] == key and base64.b64decode(obj["value"]) == value and obj.get("metadata") == (metadata or None)
