"""Store.import_file and Store.export on both backends: round trips, streams, failures, resume, progress."""

from __future__ import annotations

import gc
import io
import json
import uuid

import pytest

import kvcli


def fill(store) -> dict[str, bytes]:
    values = {f"item/{i:03d}": f"value {i}".encode() for i in range(40)}
    values["binary"] = bytes(range(256))
    for key, value in values.items():
        store[key] = value
    store.put("with-meta", b"m", metadata='{"a": 1}', ttl=7200)
    values["with-meta"] = b"m"
    return values


def test_export_then_import_round_trip(kv, store, tmp_path):
    values = fill(store)
    out = tmp_path / "backup.ndjson"
    report = store.export(out)
    assert isinstance(report, kvcli.ExportReport)
    assert report.exported == len(values) and report.failed == 0
    assert not (tmp_path / "backup.ndjson.partial").exists()
    assert len(out.read_text().splitlines()) == len(values)

    copy = kv.create_store(f"copy-{uuid.uuid4().hex[:10]}")
    imported = copy.import_file(out)
    assert isinstance(imported, kvcli.ImportReport)
    assert imported.written == len(values) and imported.failed == 0 and imported.format == "ndjson"
    assert {k: copy[k] for k in copy} == values
    meta = copy.get("with-meta")
    assert meta.metadata == '{"a": 1}' and meta.expires_at is not None


def test_export_to_streams_and_a_prefix(store):
    fill(store)
    binary = io.BytesIO()
    report = store.export(binary, prefix="item/00")
    assert report.exported == 10
    keys = [json.loads(line)["key"] for line in binary.getvalue().decode().splitlines()]
    assert keys == [f"item/00{i}" for i in range(10)]
    assert not binary.closed  # the caller's stream stays open
    text = io.StringIO()
    store.export(text, "wrangler", prefix="item/01")
    assert [e["key"] for e in json.loads(text.getvalue())] == [f"item/01{i}" for i in range(10)]


def test_export_to_a_directory_and_import_it(kv, store, tmp_path):
    store["site/index.html"] = b"<h1>hi</h1>"
    store["site/css/app.css"] = b"body{}"
    report = store.export(tmp_path / "out", "dir")
    assert report.exported == 2
    assert (tmp_path / "out" / "site" / "css" / "app.css").read_bytes() == b"body{}"
    copy = kv.create_store(f"dir-{uuid.uuid4().hex[:10]}")
    assert copy.import_file(tmp_path / "out").written == 0  # as the CLI's --dir: top-level files only
    assert copy.import_file(tmp_path / "out", recursive=True).written == 2
    assert copy["site/index.html"] == b"<h1>hi</h1>"


def test_export_that_cannot_hold_an_item_is_a_partial_failure(store, tmp_path):
    store["text"] = b"fine"
    store["binary"] = b"\xff\xfe"
    out = tmp_path / "viceroy.json"
    with pytest.raises(kvcli.PartialFailure) as caught:
        store.export(out, "viceroy")  # Viceroy values are text
    err = caught.value
    assert err.kind == "partial_failure" and err.operation == "export"
    assert err.report.exported == 1 and err.report.failed == 1
    assert json.loads(out.read_text()) == {"text": "fine"}  # the output holds the others


def test_bad_export_arguments(store, tmp_path):
    with pytest.raises(kvcli.InvalidInput, match="unknown export format"):
        store.export(tmp_path / "x", "csv")
    with pytest.raises(kvcli.InvalidInput, match="directory"):
        store.export(io.StringIO(), "dir")
    with pytest.raises(kvcli.InvalidInput, match="cannot write"):
        store.export(tmp_path / "no" / "such" / "dir.ndjson")


def test_import_with_bad_entries_raises_partial_failure_with_the_report(store, tmp_path):
    path = tmp_path / "mixed.ndjson"
    path.write_text('{"key":"good","value":"eA=="}\n{"key":"bad#key","value":"eA=="}\nnot json\n')
    with pytest.raises(kvcli.PartialFailure) as caught:
        store.import_file(path)
    report = caught.value.report
    assert isinstance(report, kvcli.ImportReport)
    assert (report.written, report.failed, report.invalid) == (1, 2, 2)
    assert {e.get("line") for e in report.errors} == {2, 3}
    assert caught.value.store_id == store.id
    assert store["good"] == b"x"


def test_import_format_and_missing_file(store, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text(json.dumps([{"key": "w", "value": "d2F0", "base64": True}]))
    assert store.import_file(path, format="wrangler").written == 1
    assert store["w"] == b"wat"
    with pytest.raises(kvcli.KvcliError):
        store.import_file(tmp_path / "missing.ndjson")


def test_import_into_a_missing_store_stops_with_not_found(kv, tmp_path):
    gone = kv.create_store(f"gone-{uuid.uuid4().hex[:10]}")
    kv.delete_store(gone)
    path = tmp_path / "one.ndjson"
    path.write_text('{"key":"k","value":"eA=="}\n')
    with pytest.raises(kvcli.NotFound) as caught:
        gone.import_file(path)
    assert "0 entries were written" in str(caught.value)


def test_progress_is_reported_and_gc_is_left_alone(store, tmp_path):
    path = tmp_path / "many.ndjson"
    path.write_text("".join(f'{{"key":"k{i:05d}","value":"eA=="}}\n' for i in range(3000)))
    before = gc.get_threshold()
    seen: list[tuple[int, tuple[int, ...]]] = []
    report = store.import_file(path, on_progress=lambda r: seen.append((r.written, gc.get_threshold())))
    assert report.written == 3000
    assert seen and seen[-1][0] == 3000
    assert all(thresholds == before for _, thresholds in seen)  # a process-wide setting: untouched while it runs


def test_resume_after_a_finished_import_skips_everything(store, tmp_path):
    path = tmp_path / "resume.ndjson"
    path.write_text("".join(f'{{"key":"r{i}","value":"eA=="}}\n' for i in range(50)))
    assert store.import_file(path).written == 50
    store.clear()
    again = store.import_file(path, resume=True)  # the journal says every record was acknowledged
    assert again.resumed and again.written == 0 and again.earlier_written == 50
    assert list(store) == []
    fresh = store.import_file(path)  # without resume: everything again
    assert fresh.written == 50 and not fresh.resumed


def test_resume_continues_after_what_was_acknowledged(store, tmp_path):
    """An import that stopped part-way (here: its input was cut short) resumes after what the journal recorded."""
    path = tmp_path / "grow.ndjson"
    lines = [f'{{"key":"g{i:03d}","value":"eA=="}}\n' for i in range(20)]
    path.write_text("".join(lines[:10]) + '{"key":"g010","value":"eA=="')  # the last line is cut
    with pytest.raises(kvcli.PartialFailure):
        store.import_file(path)
    assert len(list(store)) == 10
    path.write_text("".join(lines))  # the complete input: a new identity (size and mtime), so nothing to resume
    report = store.import_file(path, resume=True)
    assert report.written == 20


def test_ctrl_c_propagates_and_the_import_resumes_after_what_was_acknowledged(store, tmp_path):
    path = tmp_path / "big.ndjson"
    path.write_text("".join(f'{{"key":"c{i:05d}","value":"eA=="}}\n' for i in range(12000)))
    batches: list[int] = []

    def interrupt_after_the_first_batch(report) -> None:
        batches.append(report.written)
        if len(batches) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not turned into a kvcli error: Ctrl-C stays Ctrl-C
        store.import_file(path, on_progress=interrupt_after_the_first_batch)
    done = len(list(store))  # the first batch, and over HTTP the batches already in flight
    assert batches[0] <= done < 12000
    report = store.import_file(path, resume=True)
    assert report.resumed and report.earlier_written == done
    assert report.written == 12000 - done
    assert len(list(store)) == 12000


def test_import_a_store_of_a_fastly_toml(store, tmp_path):
    path = tmp_path / "fastly.toml"
    path.write_text(
        '[local_server.kv_stores]\n'
        'one = [{key = "a", data = "first"}]\n'
        'two = [{key = "b", data = "second"}, {key = "c", data = "third", metadata = "m"}]\n'
    )
    with pytest.raises(kvcli.KvcliError):
        store.import_file(path)  # two stores: which one?
    report = store.import_file(path, toml_store="two")
    assert report.written == 2 and report.format == "fastly-toml"
    assert store["b"] == b"second" and store.get("c").metadata == "m" and "a" not in store
