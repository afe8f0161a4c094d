"""The NDJSON import's fast lane (kvcli/bulk/lines.py): a run of plain batch lines must be exactly what the
per-line parser makes of the same lines, through validation and batching, and go on the wire as read."""

from __future__ import annotations

import base64
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcli import records
from kvcli.api.models import BatchResult
from kvcli.bulk import lines as lines_mod
from kvcli.bulk.batching import batches
from kvcli.bulk.importer import Importer, ImportOptions
from kvcli.bulk.lines import LineRun, keys_of, scan
from kvcli.bulk.records import Bad, Entry
from kvcli.bulk.sources import ndjson
from kvcli.bulk.sources.ndjson import NdjsonSource
from kvcli.bulk.validate import validate


def source(text: bytes, keep_wire: bool = True) -> NdjsonSource:
    src = NdjsonSource(stream=io.BytesIO(text), label="in.ndjson")
    src.keep_wire = keep_wire
    return src


def flat(items) -> list:
    """Records with every run replaced by its entries."""
    out = []
    for item in items:
        if isinstance(item, LineRun):
            out.extend(item)
        else:
            out.append(item)
    return out


def fields(rec) -> tuple:
    return (type(rec).__name__, *(getattr(rec, name) for name in records.fields(rec)))


def plain(key: str, value: bytes, spaced: bool = False) -> bytes:
    sep = (", ", ": ") if spaced else (",", ":")
    return json.dumps({"key": key, "value": base64.b64encode(value).decode()}, separators=sep).encode()


# lines of every kind: plain ones (both spacings), and near misses the lane must leave to the per-line parser
# keys: mostly of characters the lane takes (so whole blocks of plain lines are common), sometimes of any
_key = st.one_of(
    st.text(alphabet="abcxyz0189-_/:=+ ~[]{}<>@$%&'()*,!`", min_size=1, max_size=8),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7F), min_size=0, max_size=12),
)
_value = st.binary(max_size=40)
_plain_line = st.builds(plain, _key, _value, st.booleans())
_odd_line = st.one_of(
    st.builds(lambda k, v: json.dumps({"key": k, "value": base64.b64encode(v).decode(), "metadata": "m"}).encode(),
              _key, _value),
    st.builds(lambda k, v: json.dumps({"value": base64.b64encode(v).decode(), "key": k}).encode(), _key, _value),
    st.builds(lambda k: (f'{{"key":"{k}","value":"QQ"}}').encode(), _key),  # base64 without padding
    st.builds(lambda k: (f'{{"key":"{k}","value":"Q==="}}').encode(), _key),
    st.builds(lambda k: (f'{{"key":"{k}","value":"QUJD\\n"}}').encode(), _key),
    st.builds(lambda k: (f'{{"key":"{k}","value":"Q@=="}}').encode(), _key),
    st.builds(lambda k: (f'{{"key":"{k}","value":"QQ=="}} ').encode(), _key),  # a trailing space
    st.builds(lambda k: (f'{{"key":"k\\u00e9{k}","value":""}}').encode(), _key),  # an escape
    st.builds(lambda k: (f'{{"key":"{k}","value":"QQ==","key":"x"}}').encode(), _key),
    st.just(b""),
    st.just(b"   "),
    st.just(b"not json"),
    st.just(b'{"key":"a",'),  # a multi-line object starts
    st.just(b'"value":"QQ=="}'),
    st.just(b"\xef\xbb\xbf" + plain("bom", b"x")),
    st.just(plain("crlf", b"x") + b"\r"),
    st.just(plain("." + "dot", b"x")),
    st.just(plain(".well-known/acme-challenge/x", b"x")),
    st.just(plain("k" * 1025, b"x")),
    st.just(plain("k" * 1024, b"x")),
    st.just(b"\xff\xfe"),
)
_lines = st.one_of(
    st.lists(_plain_line, max_size=40),
    st.lists(st.one_of(_plain_line, _plain_line, _plain_line, _odd_line), max_size=60),
)


_QUICK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=_QUICK)
@given(_lines, st.booleans(), st.sampled_from([7, 64, 1 << 20]), st.booleans())
def test_runs_are_exactly_what_the_per_line_parser_reads(monkeypatch_lines, lines, final_newline, block, keep_wire):
    monkeypatch_lines(block)
    text = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    per_line = list(source(text, keep_wire).records())
    with_runs = list(source(text, keep_wire).runs())
    assert [fields(r) for r in flat(with_runs)] == [fields(r) for r in per_line]


@settings(max_examples=200, deadline=None, suppress_health_check=_QUICK)
@given(_lines, st.sampled_from([7, 300, 1 << 20]), st.integers(1, 5), st.sampled_from([150, 400, 8 << 20]),
       st.sampled_from([1, 10**6]))
def test_chunks_cut_runs_where_the_entries_one_by_one_would_be_cut(monkeypatch_lines, lines, block, max_entries,
                                                                   max_bytes, limit):
    monkeypatch_lines(block)
    text = b"\n".join(lines) + b"\n"

    def chunks(records):
        out = []
        for c in batches(validate(records, max_value_bytes=limit), max_entries=max_entries, max_bytes=max_bytes):
            out.append((c.seq, c.start, c.end, [fields(e) for e in c.entries], [fields(b) for b in c.bad],
                        c.nbytes, c.value_bytes, c.end_offset, c.end_line, c.last_key, sorted(keys_of(c.entries))))
        return out

    assert chunks(source(text).runs()) == chunks(source(text).records())


@pytest.fixture
def monkeypatch_lines(monkeypatch):
    """Set the NDJSON read block size (small blocks: runs end and restart inside chunks and lines)."""
    return lambda size: monkeypatch.setattr(ndjson, "_BLOCK", size)


def test_a_file_of_plain_lines_is_read_as_runs_and_a_block_with_one_odd_line_line_by_line(monkeypatch):
    monkeypatch.setattr(ndjson, "_BLOCK", 64)
    good = [plain(f"k{i}", b"v" * i) for i in range(6)]
    text = b"\n".join(good[:3] + [b'{"key":"m","value":"","metadata":"x"}'] + good[3:]) + b"\n"
    items = list(source(text).runs())
    assert any(isinstance(i, LineRun) for i in items)
    assert any(isinstance(i, Entry) and i.metadata == "x" for i in items)
    assert [e.key for e in flat(items)] == ["k0", "k1", "k2", "m", "k3", "k4", "k5"]


@pytest.mark.parametrize("key", [*"#;?^|\x7f", "a#", "x;y", "é", ".", "..", ".hidden", ".well-known/acme-challenge/t",
                                 "", "k" * 1024, "k" * 1025, "a b", "=", "a/b:c"])
def test_every_key_rule_gives_the_same_outcome_with_and_without_runs(key):
    text = plain(key, b"v") + b"\n" + plain("next", b"w") + b"\n"
    per_line = [fields(r) for r in validate(source(text).records())]
    with_runs = [fields(r) for r in flat(validate(source(text).runs()))]
    assert with_runs == per_line


def test_scan_refuses_what_it_cannot_prove_valid():
    assert scan(plain("a", b"x") + b"\n", "f", 1, 0, 0) is not None
    for line in (b'{"key":"a;b","value":""}', b'{"key":"a\\"b","value":""}', b'{"key":".a","value":""}',
                 b'{"key":"","value":""}', b'{"key":"a","value":"QQ"}', b'{"key":"a","value":"=AAA"}',
                 b' {"key":"a","value":""}', b'{"key":"a","value":""}\r'):
        assert scan(line + b"\n", "f", 1, 0, 0) is None, line


def test_a_run_goes_on_the_wire_as_its_lines_were_read():
    lines = [plain("a", b"1"), plain("b", b"22", spaced=True)]
    run = scan(b"\n".join(lines) + b"\n", "f", 1, 0, 0)
    assert run is not None
    assert run.wire_body() == b"\n".join(lines) + b"\n"
    assert run.value_bytes() == 3
    assert [e.value for e in run] == [b"1", b"22"]


def test_an_import_over_a_recording_api_sends_runs_as_one_body_and_accounts_for_every_key(monkeypatch):
    monkeypatch.setattr(ndjson, "_BLOCK", 100)
    lines = [plain(f"key-{i:03d}", bytes([i]) * (i % 7)) for i in range(250)]
    text = b"\n".join(lines) + b"\n"

    class Recording:
        def __init__(self):
            self.bodies: list[bytes] = []

        def put_batch(self, store_id, entries):
            self.bodies.append(entries.wire_body() if hasattr(entries, "wire_body") else b"")
            result = BatchResult(written=len(entries))
            return result

    api = Recording()
    imp = Importer(api, "s", source(text), options=ImportOptions(max_entries=40, concurrency=2))
    report = imp.run()
    assert report.written == 250 and report.failed == 0
    assert b"".join(api.bodies) == text  # every line once, as read, in order
    assert report.bytes == sum(i % 7 for i in range(250))


def test_a_value_over_the_limit_in_a_run_is_refused_by_the_limit_as_without_runs():
    text = plain("small", b"x") + b"\n" + plain("big", b"y" * 100) + b"\n"
    recs = flat(validate(source(text).runs(), max_value_bytes=50))
    assert isinstance(recs[0], Entry)
    assert isinstance(recs[1], Bad) and recs[1].code == "too_large" and recs[1].key == "big"


def test_keys_of_a_list_of_entries_and_of_a_run():
    run = scan(plain("a", b"") + b"\n" + plain("b", b"") + b"\n", "f", 1, 0, 0)
    assert run is not None
    assert list(keys_of(run)) == ["a", "b"]
    assert list(keys_of(list(run))) == ["a", "b"]
    assert lines_mod.LINE_OVERHEAD == 64


def test_a_chunk_one_byte_short_of_two_entries_holds_one_as_without_runs():
    lines = [plain(f"k{i}", b"abc") for i in range(5)]
    size = 64 + 2 * 2 + 4  # kvcli.bulk.batching.encoded_size of each: overhead, twice the key, the base64
    text = b"\n".join(lines) + b"\n"

    def shape(records):
        return [(c.start, c.end, len(c.entries)) for c in batches(validate(records), max_entries=10,
                                                                   max_bytes=2 * size - 1)]

    assert shape(source(text).runs()) == shape(source(text).records()) == [(i, i, 1) for i in range(5)]


_PROBE = (
    "import sys\nfrom kvcli import entry\ncode = entry.run_fast(sys.argv[1:])\n"
    "sys.stderr.write('\\n' + repr((code, 'msgspec' in sys.modules)))\n"
)


@pytest.mark.parametrize(("odd", "parsed"), [(False, False), (True, True)], ids=["plain", "one-odd-line"])
def test_an_import_of_plain_lines_never_loads_the_per_line_parser(tmp_path, odd, parsed):
    """A file of plain lines is read in runs only: msgspec (the per-line parser's) is not even imported; one line
    with metadata is parsed, with it."""
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    lines = [plain(f"k{i}", b"v") for i in range(3)] + ([b'{"key":"m","value":"","metadata":"x"}'] if odd else [])
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = subprocess_env()
    run = [sys.executable, "-c", _PROBE]
    made = subprocess.run([sys.executable, "-m", "kvcli", "kv-store", "create", "--name", "s", "-q"], env=env)
    assert made.returncode == 0
    proc = subprocess.run([*run, "-q", "kv-store-entry", "create", "--store-name", "s", "--file", str(path)],
                          env=env, capture_output=True)
    assert proc.stderr.decode().strip().splitlines()[-1] == repr((0, parsed)), proc.stderr
