"""`kv-store-entry list`: formats, verbatim keys, --limit/--cursor, and streaming (pages printed as they arrive)."""

from __future__ import annotations

import json
import sys
import weakref

import pytest

from kvcli.api.models import BatchEntry, Page, Store

A_KEYS = [f"a/{i:05d}" for i in range(2000)]
B_KEYS = [f"b/{i:05d}" for i in range(1000)]


@pytest.fixture
def filled(engine, store_id) -> str:
    """3,000 keys (three pages at the default page size of 1000)."""
    for chunk in (A_KEYS[:1000], A_KEYS[1000:], B_KEYS):
        assert not engine.put_batch(store_id, [BatchEntry(key=k, value=b"") for k in chunk]).errors
    return store_id


def lines(res) -> list[str]:
    assert res.exit_code == 0, res
    return res.stdout_bytes.decode("utf-8").split("\n")[:-1] if res.stdout_bytes else []


def next_cursor(res) -> str | None:
    found = [line.split(": ", 1)[1] for line in res.stderr.splitlines() if line.startswith("next cursor: ")]
    assert len(found) <= 1
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------------- formats
def test_default_is_plain_when_stdout_is_not_a_terminal(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled)
    assert lines(res) == A_KEYS + B_KEYS
    assert next_cursor(res) is None


def test_default_is_a_table_on_a_terminal(cli, store_id, monkeypatch):
    import kvcli.cli.state as mod

    cli("kv-store-entry", "create", "-s", store_id, "-k", "k1", "--value", "")
    monkeypatch.setattr(mod, "stdout_is_tty", lambda: True)
    res = cli("kv-store-entry", "list", "-s", store_id)
    assert res.exit_code == 0, res
    assert res.stdout.splitlines()[0] == "Key" and res.stdout.splitlines()[-1] == "k1"
    assert "1 key" in res.stderr


def test_json_is_one_array_of_every_key(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled, "--json")
    assert res.exit_code == 0, res
    assert res.json() == A_KEYS + B_KEYS
    assert res.stdout.startswith('[\n  "a/00000",\n  "a/00001"') and res.stdout.endswith('"b/00999"\n]\n')
    assert cli("kv-store-entry", "list", "-s", filled, "--format", "json").stdout == res.stdout


def test_ndjson(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled, "--format", "ndjson", "--prefix", "b/")
    assert [json.loads(line) for line in lines(res)] == [{"key": k} for k in B_KEYS]


def test_table_format(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled, "--format", "table", "--prefix", "b/001")
    got = lines(res)
    assert got[:2] == ["Key", "---"] and got[2:] == B_KEYS[100:200]
    assert "100 keys" in res.stderr


@pytest.mark.parametrize(("fmt", "stdout"), [("plain", ""), ("json", "[]\n"), ("ndjson", ""), ("table", "")])
def test_empty_store(cli, store_id, fmt, stdout):
    res = cli("kv-store-entry", "list", "-s", store_id, "--format", fmt)
    assert res.exit_code == 0, res
    assert res.stdout == stdout
    if fmt == "table":
        assert "No keys" in res.stderr


VERBATIM = ["pct%d%s%!", "  leading spaces", "trailing spaces  ", "tab\tinside", 'q"uote\\', "ünï/日本/🙂",
            ("long key with spaces " * 49)[:1024], "\x01\x7f control"]


def test_keys_are_printed_verbatim(cli, store_id, engine):
    for k in VERBATIM:
        engine.put_item(store_id, k, b"")
    expected = sorted(VERBATIM, key=lambda k: k.encode("utf-8"))
    assert lines(cli("kv-store-entry", "list", "-s", store_id)) == expected
    assert cli("kv-store-entry", "list", "-s", store_id, "--json").json() == expected
    nd = lines(cli("kv-store-entry", "list", "-s", store_id, "--format", "ndjson"))
    assert [json.loads(line)["key"] for line in nd] == expected


def test_table_escapes_control_characters_only(cli, store_id, engine):
    engine.put_item(store_id, "bell\x07key", b"")
    engine.put_item(store_id, "plain key", b"")
    res = cli("kv-store-entry", "list", "-s", store_id, "--format", "table")
    assert lines(res)[2:] == ["bell\\x07key", "plain key"]


# ---------------------------------------------------------------------------------------------- prefix, cursor
def test_prefix_across_pages(cli, filled):
    assert lines(cli("kv-store-entry", "list", "-s", filled, "--prefix", "a/")) == A_KEYS
    assert lines(cli("kv-store-entry", "list", "-s", filled, "--prefix", "a/01")) == [
        k for k in A_KEYS if k.startswith("a/01")
    ]
    assert lines(cli("kv-store-entry", "list", "-s", filled, "--prefix", "zz")) == []


def test_limit_and_cursor_resume_cover_everything_once(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled, "--limit", "1234")
    first = lines(res)
    assert first == (A_KEYS + B_KEYS)[:1234]
    cursor = next_cursor(res)
    assert cursor
    res2 = cli("kv-store-entry", "list", "-s", filled, "--cursor", cursor, "--limit", "1000")
    second = lines(res2)
    assert second == (A_KEYS + B_KEYS)[1234:2234]
    res3 = cli("kv-store-entry", "list", "-s", filled, "--cursor", next_cursor(res2))
    assert first + second + lines(res3) == A_KEYS + B_KEYS
    assert next_cursor(res3) is None


def test_limit_with_prefix_and_json(cli, filled):
    res = cli("kv-store-entry", "list", "-s", filled, "--prefix", "b/", "--limit", "600", "--json")
    assert res.json() == B_KEYS[:600]
    rest = cli("kv-store-entry", "list", "-s", filled, "--prefix", "b/", "--cursor", next_cursor(res), "--json")
    assert rest.json() == B_KEYS[600:]


def test_no_cursor_when_the_limit_reaches_the_end(cli, filled):
    for limit in ("1000", "5000"):
        res = cli("kv-store-entry", "list", "-s", filled, "--prefix", "b/", "--limit", limit)
        assert lines(res) == B_KEYS
        assert next_cursor(res) is None


def test_eventual_consistency(cli, filled):
    assert lines(cli("kv-store-entry", "list", "-s", filled, "--consistency", "eventual")) == A_KEYS + B_KEYS


@pytest.mark.parametrize(
    "args",
    [
        ["--consistency", "sometimes"],
        ["--limit", "0"],
        ["--format", "xml"],
        ["--json", "--format", "ndjson"],
        ["--cursor", "garbage!"],
    ],
)
def test_bad_options_are_usage_errors(cli, store_id, args):
    res = cli("kv-store-entry", "list", "-s", store_id, *args)
    assert res.exit_code == 2, res
    assert res.stdout == ""


def test_missing_store_exit_3_and_no_partial_json(cli):
    res = cli("kv-store-entry", "list", "-s", "nosuchstore", "--json")
    assert res.exit_code == 3, res
    assert res.stdout == ""
    res = cli("kv-store-entry", "list", "--store-name", "nosuchname")
    assert res.exit_code == 3, res


# ------------------------------------------------------------------------------------------------------ streaming
class LazyApi:
    """Pages generated on demand. At each request it records what the CLI had already written to stdout."""

    description = "lazy fake"

    def __init__(self, pages: int, per_page: int) -> None:
        self.pages = pages
        self.per_page = per_page
        self.written_before_call: list[bytes] = []
        self.alive_before_call: list[int] = []
        self.refs: list[weakref.ref] = []  # to prove the CLI keeps no page it has printed

    def close(self) -> None:
        pass

    def get_store(self, store_id: str) -> Store:
        return Store(id=store_id, name="lazy", created_at=None, updated_at=None)

    def list_keys(self, store_id, prefix=None, cursor=None, limit=None, consistency="strong"):
        n = int(cursor) if cursor else 0
        sys.stdout.flush()
        self.written_before_call.append(sys.stdout.buffer.getvalue())
        self.alive_before_call.append(sum(1 for r in self.refs if r() is not None))
        keys = [f"key{n * self.per_page + i:08d}" for i in range(self.per_page)]
        page = Page(items=keys, next_cursor=str(n + 1) if n + 1 < self.pages else None)
        self.refs.append(weakref.ref(page))
        return page


@pytest.fixture
def lazy(monkeypatch):
    import kvcli.config

    api = LazyApi(pages=30, per_page=500)
    monkeypatch.setattr(kvcli.config, "make_api", lambda target, **kw: api)
    return api


@pytest.mark.parametrize("fmt", ["plain", "ndjson", "json", "table"])
def test_each_page_is_printed_before_the_next_is_fetched(cli, lazy, fmt):
    res = cli("kv-store-entry", "list", "-s", "lazystore", "--format", fmt)
    assert res.exit_code == 0, res
    assert len(lazy.written_before_call) == 30
    for n, written in enumerate(lazy.written_before_call):
        assert written.count(b"key0") == n * 500  # every earlier page is already out, no later one
        # only the page just printed is still referenced (refcounting frees the others at once)
        assert lazy.alive_before_call[n] <= 1
    if fmt == "json":
        assert res.json() == [f"key{i:08d}" for i in range(15000)]
    else:
        assert res.stdout.count("key0") == 15000


def test_limit_streams_too(cli, lazy):
    res = cli("kv-store-entry", "list", "-s", "lazystore", "--limit", "1700")
    assert len(lines(res)) == 1700
    assert [w.count(b"key0") for w in lazy.written_before_call] == [0, 500, 1000, 1500]
