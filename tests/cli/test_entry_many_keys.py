"""Many keys in one process: `kv-store-entry list --long`, and `get`/`describe --keys-file`.

In-process CLI runs on both backends: the embedded engine, and over HTTP a real `kvcli local serve` (the HTTP
adapter's list-then-describe path, with bounded concurrency).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading

import pytest

from kvcli.api.errors import AuthError, ServerError
from kvcli.api.models import BatchEntry
from tests.conftest import subprocess_env
from tests.served import LocalServe


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    serve = LocalServe(tmp_path_factory.mktemp("many-keys"), token="many-token")
    yield serve
    serve.stop()


@pytest.fixture(params=["local", "http"])
def backend(request, monkeypatch, cli):
    """(kind, store_id, api): a fresh store on the chosen backend, which plain `cli(...)` calls then use."""
    if request.param == "http":
        served = request.getfixturevalue("server")
        monkeypatch.setenv("FASTLY_API_ENDPOINT", served.url)
        monkeypatch.setenv("FASTLY_API_TOKEN", served.token)
        monkeypatch.setenv("KVCLI_HTTP_BACKOFF_BASE", "0")
    import uuid

    res = cli("kv-store", "create", "--name", f"many-{uuid.uuid4().hex[:10]}", "--json")
    assert res.exit_code == 0, res
    sid = res.json()["StoreID"]
    if request.param == "http":
        from kvcli.api.http import HttpAdapter

        api = HttpAdapter(served.url, served.token)
    else:
        from kvcli.api.local import LocalAdapter

        api = LocalAdapter.open(os.environ["KVCLI_DATA_DIR"])
    yield request.param, sid, api
    api.close()


def fill(api, sid: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        assert not api.put_batch(sid, [BatchEntry(key=k, value=b"v") for k in chunk]).errors


def ndjson(res) -> list[dict]:
    return [json.loads(line) for line in res.stdout.splitlines()]


def describe_json(cli, sid: str, key: str) -> dict:
    res = cli("kv-store-entry", "describe", "-s", sid, "-k", key, "--json")
    assert res.exit_code == 0, res
    return res.json()


# ---------------------------------------------------------------------------------------------------- list --long
def test_long_gives_describes_fields_in_every_format(cli, backend, monkeypatch):
    kind, sid, api = backend
    api.put_item(sid, "a", b"hello", metadata="meta\tdata")
    api.put_item(sid, "b/ttl", b"xy", ttl=3600)
    api.put_item(sid, "c", b"")
    expected = [describe_json(cli, sid, k) for k in ("a", "b/ttl", "c")]
    assert expected[1]["expires_at"] is not None  # both backends expose expiry (real Fastly would not)

    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--output-format", "ndjson")
    assert res.exit_code == 0, res
    assert ndjson(res) == expected

    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--json")
    assert res.exit_code == 0, res
    assert res.json() == expected
    assert res.stdout == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"  # what --json prints elsewhere
    assert cli("kv-store-entry", "list", "-s", sid, "--with-metadata", "--output-format", "json").stdout == res.stdout

    res = cli("kv-store-entry", "list", "-s", sid, "--long")  # not a terminal: plain, tab-separated
    assert res.exit_code == 0, res
    rows = [line.split("\t") for line in res.stdout.splitlines()]
    assert [r[0] for r in rows] == ["a", "b/ttl", "c"]
    assert all(len(r) == 6 for r in rows)
    assert rows[0][1:4] == [expected[0]["generation"], "5", "meta\\tdata"]  # a tab inside a field is escaped
    assert rows[0][5] == "-" and rows[1][5] == expected[1]["expires_at"].replace("T", " ").rstrip("Z")

    import kvcli.cli.state as state

    monkeypatch.setattr(state, "stdout_is_tty", lambda: True)
    res = cli("kv-store-entry", "list", "-s", sid, "--long")
    assert res.exit_code == 0, res
    header = res.stdout.splitlines()[0].split()
    assert header[:4] == ["Key", "Generation", "Size", "Metadata"] and "3 keys" in res.stderr


def test_long_follows_pages_and_limit_and_cursor(cli, backend):
    _, sid, api = backend
    keys = [f"k/{i:05d}" for i in range(2100)]
    fill(api, sid, keys)
    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--output-format", "ndjson")
    assert res.exit_code == 0, res
    assert [o["key"] for o in ndjson(res)] == keys  # three pages, in order, none lost at a page boundary
    assert all(o["size"] == 1 for o in ndjson(res))

    first = cli("kv-store-entry", "list", "-s", sid, "--long", "--limit", "1500", "--output-format", "plain")
    assert first.exit_code == 0, first
    cursor = [ln.split(": ", 1)[1] for ln in first.stderr.splitlines() if ln.startswith("next cursor: ")]
    assert len(cursor) == 1
    rest = cli("kv-store-entry", "list", "-s", sid, "--long", "--cursor", cursor[0], "--output-format", "plain")
    got = [ln.split("\t")[0] for ln in first.stdout.splitlines() + rest.stdout.splitlines()]
    assert got == keys


def test_long_error_mid_way_is_one_line_and_what_was_printed_stays_ndjson(cli, backend, monkeypatch):
    kind, sid, api = backend
    keys = [f"k/{i:05d}" for i in range(1500)]
    fill(api, sid, keys)
    if kind == "http":
        from kvcli.api.http.adapter import HttpAdapter as cls

        real = cls.describe_item

        def failing(self, store_id, key):
            if key == "k/01200":
                raise ServerError("the server answered 503", status=503)
            return real(self, store_id, key)

        monkeypatch.setattr(cls, "describe_item", failing)
    else:
        from kvcli.local.engine import Engine

        real_page = Engine.list_items

        def failing_page(self, store_id, *a, cursor=None, **kw):
            if cursor:
                raise ServerError("the disk went away")
            return real_page(self, store_id, *a, cursor=cursor, **kw)

        monkeypatch.setattr(Engine, "list_items", failing_page)
    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--output-format", "ndjson")
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    assert [json.loads(line)["key"] for line in lines] == keys[:1000]  # the first page, every line whole
    assert res.stdout.endswith("\n")
    err_lines = res.stderr.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("Error: ") and "Traceback" not in res.stderr


@pytest.mark.parametrize("backend", ["http"], indirect=True)  # the embedded backend reads a page in one query
def test_long_skips_a_key_deleted_between_list_and_describe(cli, backend, monkeypatch):
    kind, sid, api = backend
    fill(api, sid, ["a", "b", "c"])
    from kvcli.api.http.adapter import HttpAdapter

    real = HttpAdapter.list_keys

    def list_then_delete(self, store_id, *a, **kw):
        page = real(self, store_id, *a, **kw)
        api.delete_item(store_id, "b")  # someone deletes a listed key before it is described
        return page

    monkeypatch.setattr(HttpAdapter, "list_keys", list_then_delete)
    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--output-format", "ndjson")
    assert res.exit_code == 0, res
    assert [o["key"] for o in ndjson(res)] == ["a", "c"]


@pytest.mark.parametrize("backend", ["http"], indirect=True)  # one query per page on the embedded backend
def test_long_over_http_describes_concurrency_keys_at_once(cli, backend, monkeypatch):
    kind, sid, api = backend
    fill(api, sid, [f"k{i:02d}" for i in range(30)])
    from kvcli.api.http.adapter import HttpAdapter

    real = HttpAdapter.describe_item
    barrier = threading.Barrier(5, timeout=60)  # passes only when 5 describes run at once
    lock = threading.Lock()
    running = [0, 0]

    def gated(self, store_id, key):
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        try:
            barrier.wait()
            return real(self, store_id, key)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(HttpAdapter, "describe_item", gated)
    res = cli("kv-store-entry", "list", "-s", sid, "--long", "--concurrency", "5", "--output-format", "ndjson")
    assert res.exit_code == 0, res
    assert len(ndjson(res)) == 30 and running[1] == 5


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--concurrency", "4"], "--concurrency only applies to --long"),
        (["--long", "--concurrency", "0"], "--concurrency 0 is out of range"),
        (["--long", "--json", "--output-format", "plain"], "cannot be combined"),
    ],
)
def test_long_flag_mistakes_are_one_line_usage_errors(cli, store_id, args, says):
    res = cli("kv-store-entry", "list", "-s", store_id, *args)
    assert res.exit_code == 2, res
    assert says in res.stderr and len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""


# ---------------------------------------------------------------------------------------------------- --keys-file
def test_get_keys_file_prints_one_object_per_key_in_input_order(cli, backend, tmp_path):
    _, sid, api = backend
    api.put_item(sid, "text", "héllo\n".encode(), metadata="m")
    api.put_item(sid, "bin", b"\xff\x00\xfe")
    api.put_item(sid, "with space ", b"s")
    path = tmp_path / "keys.txt"
    # CRLF and LF endings, an empty line (skipped), a missing key, a duplicate, a key with a trailing space
    path.write_bytes(b"text\r\nbin\n\nmissing\nwith space \ntext")
    res = cli("kv-store-entry", "get", "-s", sid, "--keys-file", str(path))
    assert res.exit_code == 7, res
    objs = ndjson(res)
    assert [o["key"] for o in objs] == ["text", "bin", "missing", "with space ", "text"]
    gen = str(api.describe_item(sid, "text").generation)
    assert objs[0] == {"key": "text", "generation": gen, "metadata": "m", "value": "héllo\n", "encoding": "utf-8"}
    assert objs[1]["encoding"] == "base64" and base64.b64decode(objs[1]["value"]) == b"\xff\x00\xfe"
    assert objs[2]["error"] == "not_found" and objs[2]["line"] == 4 and "missing" in objs[2]["message"]
    assert objs[3]["value"] == "s" and objs[4] == objs[0]
    err_lines = res.stderr.strip().splitlines()
    assert err_lines == [err_lines[0]] and "1 of 5 keys could not be read: 1 not found" in err_lines[0]


def test_describe_keys_file_from_stdin_gives_describes_json(cli, backend):
    _, sid, api = backend
    fill(api, sid, ["a", "b", "c"])
    res = cli("kv-store-entry", "describe", "-s", sid, "--keys-file", "-", input=b"c\na\nb\n")
    assert res.exit_code == 0, res
    assert ndjson(res) == [describe_json(cli, sid, k) for k in ("c", "a", "b")]


def test_keys_file_invalid_lines_are_reported_per_key_and_the_rest_goes_on(cli, backend, tmp_path):
    _, sid, api = backend
    fill(api, sid, ["ok"])
    path = tmp_path / "keys.txt"
    path.write_bytes(b"bad#key\n\xff\xfe\nok\n")
    res = cli("kv-store-entry", "describe", "-s", sid, "--keys-file", str(path))
    assert res.exit_code == 7, res
    objs = ndjson(res)
    assert [o.get("error") for o in objs] == ["invalid_input", "invalid_input", None]
    assert objs[1]["line"] == 2 and "not valid UTF-8" in objs[1]["message"] and objs[2]["key"] == "ok"


def test_keys_file_stops_at_an_error_every_key_would_hit_and_keeps_printed_lines(cli, backend, monkeypatch,
                                                                                tmp_path):
    kind, sid, api = backend
    keys = [f"k{i:03d}" for i in range(100)]
    fill(api, sid, keys)
    if kind == "http":
        from kvcli.api.http.adapter import HttpAdapter as cls
    else:
        from kvcli.api.local import LocalAdapter as cls  # type: ignore[assignment]
    real = cls.get_item

    def failing(self, store_id, key):
        if key == "k050":
            raise AuthError("the token was refused", status=401)
        return real(self, store_id, key)

    monkeypatch.setattr(cls, "get_item", failing)
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(keys) + "\n")
    res = cli("kv-store-entry", "get", "-s", sid, "--keys-file", str(path))
    assert res.exit_code == 5, res
    assert [o["key"] for o in ndjson(res)] == keys[:50]
    assert res.stderr.strip().splitlines() == ["Error: the token was refused"]


def test_keys_file_of_a_missing_store_is_not_found_once(cli, backend, tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("a\nb\n")
    res = cli("kv-store-entry", "get", "-s", "nosuchstore0000000000000", "--keys-file", str(path))
    assert res.exit_code == 3, res
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["get", "describe"])
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-k", "a"], "--key and --keys-file cannot be combined"),
        (["--concurrency", "0"], "--concurrency 0 is out of range"),
        (["--keys-file-missing"], None),
    ],
)
def test_keys_file_flag_mistakes(cli, store_id, tmp_path, command, args, says):
    path = tmp_path / "keys.txt"
    path.write_text("a\n")
    if says is None:  # no such file
        res = cli("kv-store-entry", command, "-s", store_id, "--keys-file", str(tmp_path / "nope.txt"))
        says = "cannot read --keys-file"
    else:
        res = cli("kv-store-entry", command, "-s", store_id, "--keys-file", str(path), *args)
    assert res.exit_code == 2, res
    assert says in res.stderr and len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""


def test_get_keys_file_refuses_if_generation_match_and_concurrency_needs_keys_file(cli, store_id, tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("a\n")
    res = cli("kv-store-entry", "get", "-s", store_id, "--keys-file", str(path), "--if-generation-match", "1")
    assert res.exit_code == 2 and "--if-generation-match does not apply to --keys-file" in res.stderr, res
    res = cli("kv-store-entry", "describe", "-s", store_id, "-k", "a", "--concurrency", "3")
    assert res.exit_code == 2 and "--concurrency only applies to --keys-file" in res.stderr, res


def test_keys_file_streams_answers_while_stdin_is_still_open(cli, store_id, isolated):
    """Each answer is printed before the next key is read (a pipe that stays open does not hold the output)."""
    assert cli("-q", "kv-store-entry", "create", "-s", store_id, "-k", "first", "--value", "1").exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "kv-store-entry", "describe", "-s", store_id, "--keys-file", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env(),
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(b"first\n")
        proc.stdin.flush()
        line = proc.stdout.readline()  # answered while stdin is still open: nothing waits for the end of input
        assert json.loads(line)["key"] == "first"
        proc.stdin.write(b"second\n")
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["error"] == "not_found"
        assert proc.wait(timeout=60) == 7
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
