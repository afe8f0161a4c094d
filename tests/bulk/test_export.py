"""Export: every format, ordering with concurrent fetches, binary values, and directory safety."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest

from kvcli.api.errors import NotFound, ServerError
from kvcli.api.local import LocalAdapter
from kvcli.bulk.export import (
    DirWriter,
    NdjsonWriter,
    ViceroyWriter,
    WranglerWriter,
    export,
    iter_items,
    key_path_problem,
    wrangler_metadata,
)


@pytest.fixture
def local(isolated):
    adapter = LocalAdapter.open(isolated["data"])
    yield adapter
    adapter.close()


@pytest.fixture
def sid(local) -> str:
    s = local.create_store("exp").id
    local.put_item(s, "a", b"alpha", metadata="m1")
    local.put_item(s, "b/c", b"\x00\xff binary")
    local.put_item(s, "t", b"ttl", ttl=3600)
    local.put_item(s, "meta-json", b"{}", metadata='{"owner":"me"}')
    return s


class SlowApi:
    """get_item with per-key delays (to scramble completion order) and injectable failures."""

    def __init__(self, inner, delays=None, fail=(), vanish=()):
        self.inner = inner
        self.delays = delays or {}
        self.fail = set(fail)
        self.vanish = set(vanish)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_item(self, store_id, key):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delays.get(key, 0))
            if key in self.fail:
                raise ServerError("boom", status=500)
            if key in self.vanish:
                raise NotFound("gone")
            return self.inner.get_item(store_id, key)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_ndjson_export_has_base64_metadata_and_ttl(local, sid):
    out = io.StringIO()
    report = export(local, sid, NdjsonWriter(out), fmt="ndjson")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["key"] for x in lines] == ["a", "b/c", "meta-json", "t"]
    by = {x["key"]: x for x in lines}
    assert base64.b64decode(by["b/c"]["value"]) == b"\x00\xff binary"
    assert by["a"]["metadata"] == "m1" and "metadata" not in by["b/c"]
    assert 3590 <= by["t"]["time_to_live_sec"] <= 3600 and "time_to_live_sec" not in by["a"]
    assert (report.exported, report.failed) == (4, 0)


def test_prefix(local, sid):
    out = io.StringIO()
    export(local, sid, NdjsonWriter(out), fmt="ndjson", prefix="b/")
    assert [json.loads(x)["key"] for x in out.getvalue().splitlines()] == ["b/c"]


def test_viceroy_refuses_binary_and_drops_ttl(local, sid):
    out = io.StringIO()
    report = export(local, sid, ViceroyWriter(out), fmt="viceroy")
    doc = json.loads(out.getvalue())
    assert doc == {"a": {"data": "alpha", "metadata": "m1"}, "meta-json": {"data": "{}", "metadata": '{"owner":"me"}'},
                   "t": "ttl"}
    assert report.failed == 1 and report.errors[0]["key"] == "b/c" and report.errors[0]["code"] == "binary_value"
    assert report.dropped_ttl == 1


def test_wrangler_export(local, sid):
    out = io.StringIO()
    export(local, sid, WranglerWriter(out), fmt="wrangler")
    doc = {x["key"]: x for x in json.loads(out.getvalue())}
    assert all(x["base64"] is True for x in doc.values())
    assert doc["meta-json"]["metadata"] == {"owner": "me"}  # an object when the text is exactly one
    assert doc["a"]["metadata"] == "m1"
    assert doc["t"]["expiration"] > time.time()
    assert wrangler_metadata('{"a": 1}') == '{"a": 1}'  # not compact: kept as text so it round-trips exactly


def test_empty_store_documents_are_valid(local):
    s = local.create_store("empty").id
    for writer_cls in (ViceroyWriter, WranglerWriter):
        out = io.StringIO()
        export(local, s, writer_cls(out), fmt="x")
        assert json.loads(out.getvalue()) in ({}, [])


def test_concurrent_fetch_keeps_key_order_and_bounds_in_flight(local):
    s = local.create_store("many").id
    keys = [f"k{i:03d}" for i in range(60)]
    for k in keys:
        local.put_item(s, k, k.encode())
    slow = SlowApi(local, delays={k: (0.02 if i % 7 == 0 else 0) for i, k in enumerate(keys)})
    got = [it.key for it in iter_items(slow, s, concurrency=4)]
    assert got == keys
    assert 1 < slow.max_in_flight <= 8


def test_failures_and_vanished_keys_are_accounted(local):
    s = local.create_store("f").id
    for k in ("a", "b", "c", "d"):
        local.put_item(s, k, b"x")
    out = io.StringIO()
    report = export(SlowApi(local, fail={"b"}, vanish={"c"}), s, NdjsonWriter(out), fmt="ndjson", concurrency=3)
    assert [json.loads(x)["key"] for x in out.getvalue().splitlines()] == ["a", "d"]
    assert (report.exported, report.failed, report.vanished) == (2, 1, 1)
    assert report.errors == [{"key": "b", "code": "500", "detail": "boom"}]


# --------------------------------------------------------------------------------------------------- directory
@pytest.mark.parametrize(
    ("key", "ok"),
    [("a", True), ("a/b/c.txt", True), ("../x", False), ("a/../../x", False), ("/abs", False), ("a//b", False),
     ("a/", False), ("./a", False), ("a\\b", False), ("x" * 256, False), ("é/ü", True)],
)
def test_key_path_rules(key, ok):
    assert (key_path_problem(key) is None) == ok


def test_dir_export_never_writes_outside(local, tmp_path: Path):
    s = local.create_store("d").id
    # keys the engine accepts that would escape or clash as paths
    for k in ("ok/file", "a/../../escape", "../up", "clash", "clash/inner", "link/x", "deep/a/b"):
        local.put_item(s, k, k.encode())
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, out / "link")  # a symlink planted in the output directory
    writer = DirWriter(str(out))
    try:
        report = export(local, s, writer, fmt="dir")
    finally:
        writer.close()
    assert (out / "ok" / "file").read_bytes() == b"ok/file"
    assert (out / "clash").read_bytes() == b"clash"
    assert (out / "deep" / "a" / "b").read_bytes() == b"deep/a/b"
    assert list(outside.iterdir()) == []  # nothing followed the planted symlink
    assert not (tmp_path / "escape").exists() and not (tmp_path / "up").exists()
    failed = {e["key"]: e["code"] for e in report.errors}
    assert failed == {"a/../../escape": "unsafe_path", "../up": "unsafe_path", "clash/inner": "path_conflict",
                      "link/x": "path_conflict"}
    assert report.exported == 3


def test_dir_export_binary_exact(local, tmp_path: Path):
    s = local.create_store("bin").id
    raw = bytes(range(256)) * 100
    local.put_item(s, "blob.bin", raw)
    writer = DirWriter(str(tmp_path / "o"))
    export(local, s, writer, fmt="dir")
    writer.close()
    assert (tmp_path / "o" / "blob.bin").read_bytes() == raw
