"""Sync plans: add / update / delete / unchanged, decided from metadata hashes without reading values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kvcli.api.local import LocalAdapter
from kvcli.bulk.sync import HASH_FIELD, hash_from_metadata, hash_metadata, make_plan


@pytest.fixture
def local(isolated):
    adapter = LocalAdapter.open(isolated["data"])
    yield adapter
    adapter.close()


class NoValueReads:
    """Fails the test if sync downloads a value."""

    def __init__(self, inner):
        self.inner = inner
        self.described: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_item(self, store_id, key):
        raise AssertionError(f"sync read the value of {key!r}")

    def describe_item(self, store_id, key):
        self.described.append(key)
        return self.inner.describe_item(store_id, key)


def h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def setup(tmp_path: Path, local):
    d = tmp_path / "site"
    (d / "css").mkdir(parents=True)
    (d / "index.html").write_bytes(b"<h1>hi</h1>")
    (d / "css" / "a.css").write_bytes(b"body{}")
    (d / "new.txt").write_bytes(b"new")
    (d / "same-size.txt").write_bytes(b"AAAA")
    s = local.create_store("site").id
    local.put_item(s, "index.html", b"<h1>hi</h1>", metadata=hash_metadata(h(b"<h1>hi</h1>")))  # unchanged
    local.put_item(s, "css/a.css", b"old", metadata=hash_metadata(h(b"old")))  # changed (size)
    local.put_item(s, "same-size.txt", b"BBBB", metadata=hash_metadata(h(b"BBBB")))  # changed (hash)
    local.put_item(s, "gone.txt", b"x", metadata=hash_metadata(h(b"x")))  # no file
    local.put_item(s, "other/keep", b"x")  # outside a prefix
    return d, s


def test_plan_without_reading_values(setup, local):
    d, s = setup
    local.put_item(s, "foreign.txt", b"x", metadata="written by someone else")
    (d / "foreign.txt").write_bytes(b"x")
    api = NoValueReads(local)
    plan, _ = make_plan(api, s, str(d), delete=True, concurrency=1)
    assert plan.add == ["new.txt"]
    assert sorted(plan.update) == ["css/a.css", "foreign.txt", "same-size.txt"]
    assert plan.reasons["foreign.txt"] == "no content hash in metadata"
    assert plan.reasons["same-size.txt"] == "content changed"
    assert plan.reasons["css/a.css"].startswith("size")
    assert plan.unchanged == ["index.html"]
    assert sorted(plan.delete) == ["gone.txt", "other/keep"]
    assert sorted(api.described) == ["css/a.css", "foreign.txt", "index.html", "same-size.txt"]


def test_without_delete_nothing_is_deleted(setup, local):
    d, s = setup
    plan, _ = make_plan(local, s, str(d))
    assert plan.delete == []


def test_prefix_limits_the_keys_compared_and_deleted(tmp_path: Path, local):
    d = tmp_path / "p"
    d.mkdir()
    (d / "a").write_bytes(b"a")
    s = local.create_store("pre").id
    local.put_item(s, "static/a", b"a", metadata=hash_metadata(h(b"a")))
    local.put_item(s, "static/old", b"o")
    local.put_item(s, "keep/me", b"k")
    plan, _ = make_plan(local, s, str(d), prefix="static/", delete=True, concurrency=4)
    assert (plan.add, plan.update, plan.unchanged, plan.delete) == ([], [], ["static/a"], ["static/old"])


def test_hash_metadata_parsing():
    assert hash_from_metadata(hash_metadata("ab")) == "ab"
    assert hash_from_metadata(None) is None
    assert hash_from_metadata("plain text") is None
    assert hash_from_metadata('{"' + HASH_FIELD + '": 5}') is None
    assert hash_from_metadata("{broken " + HASH_FIELD) is None
