"""Hostile and broken input, table-driven: every case gives one error line that names the problem and the fix.

For each case, across every command: the exit code is the one documented for that problem; stderr ends with exactly
one ``Error: … (hint: …)`` line and holds no traceback; and the store holds exactly what it held before plus what the
command *reported* writing (bulk imports that partly succeed say ``written N`` and exit 7; nothing else writes).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.conftest import stored


@dataclass
class Ctx:
    sid: str
    files: Path
    config: Path
    data: Path

    def file(self, name: str, data: str | bytes) -> str:
        p = self.files / name
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return str(p)

    def config_file(self, text: str | bytes, mode: int = 0o600) -> None:
        self.config.mkdir(parents=True, exist_ok=True)
        p = self.config / "config.toml"
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        os.chmod(p, mode)


@dataclass
class Case:
    id: str
    args: Callable[[Ctx], list[str]] | list[str]
    code: int
    needle: str  # words naming the problem, in stderr (case-insensitive)
    input: Callable[[Ctx], object] | bytes | None = None
    env: dict[str, str] = field(default_factory=dict)
    writes: dict[str, bytes] = field(default_factory=dict)  # what the command reports having written
    setup: Callable[[Ctx], None] | None = None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def line(key: str, value: bytes = b"a", **extra) -> str:
    return json.dumps({"key": key, "value": b64(value), **extra}) + "\n"


def create(*more: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["kv-store-entry", "create", "--store-id", c.sid, *more]


def import_file(name: str, data: str | bytes, *more: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["kv-store-entry", "create", "--store-id", c.sid, "--file", c.file(name, data), *more]


def entry(cmd: str, *more: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["kv-store-entry", cmd, "--store-id", c.sid, *more]


class FailingStdin(io.RawIOBase):
    """stdin that yields ``data`` (at most 64 KiB per read, like a pipe) and then fails (Ctrl-C, or the I/O error
    of a dying pipe)."""

    def __init__(self, data: bytes, exc: BaseException) -> None:
        self.data, self.exc = data, exc

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if not self.data:
            raise self.exc
        n = min(len(b), len(self.data), 65536)
        b[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def failing_stdin(data: bytes, exc: BaseException):
    return lambda c: io.BufferedReader(FailingStdin(data, exc), buffer_size=64)


TOKEN_CONFIG = 'default_profile = "work"\n[profiles.work]\ntype = "fastly"\ntoken = "tok-123456"\n' \
               'endpoint = "http://127.0.0.1:1"\n'
NO_RETRY = {"KVCLI_HTTP_MAX_ATTEMPTS": "1"}

CASES = [
    # ------------------------------------------------------------------ bulk input: bad records are reported
    Case("ndjson-malformed-json", import_file("a.ndjson", line("good") + "{not json\n"), 7, "invalid JSON",
         writes={"good": b"a"}),
    Case("ndjson-bad-base64", import_file("a.ndjson", '{"key":"a","value":"***"}\n'), 7, "not valid base64"),
    Case("ndjson-invalid-key", import_file("a.ndjson", line("..") + line("x#y")), 7, "forbidden character"),
    Case("ndjson-not-objects", import_file("a.ndjson", '[1, 2]\n"text"\nnull\n'), 7, "not a JSON object"),
    Case("ndjson-not-utf8", import_file("a.ndjson", b'{"key":"\xff\xfe","value":"YQ=="}\n'), 7, "not valid UTF-8"),
    Case("ndjson-lone-surrogate-key", import_file("a.ndjson", '{"key":"\\ud800","value":"YQ=="}\n'), 7,
         "not valid Unicode"),
    Case("ndjson-nested-too-deeply", import_file("a.ndjson", '{"key":"a","value":"YQ==","metadata":'
                                                 + "[" * 100_000 + "}\n"), 7, "nested too deeply"),
    Case("ndjson-ttl-5000-digits", import_file("a.ndjson", line("good") + '{"key":"b","value":"YQ==",'
                                               '"time_to_live_sec":' + "9" * 5000 + "}\n" + line("after")), 7,
         "a.ndjson:2: key 'b': \"time_to_live_sec\" is a 5000-digit number", writes={"good": b"a", "after": b"a"}),
    Case("ndjson-5000-digit-field", import_file("a.ndjson", '{"key":"a","value":"YQ==","background_fetch":'
                                                + "1" * 5000 + "}\n" + '{"key":"b","value":"YQ==","unknown":'
                                                + "1" * 5000 + "}\n"), 7,
         "a.ndjson:1: key 'a': \"background_fetch\" must be true or false", writes={"b": b"a"}),
    Case("json-nested-too-deeply-undetected", import_file("deep.json", '{"a":' + "[" * 100_000 + "}\n"), 7,
         "deep.json:1: invalid JSON: nested too deeply"),
    Case("viceroy-nested-too-deeply-undetected", import_file("deep.json", '{\n"a": "x",\n"b": ' + "[" * 100_000),
         2, "deep.json:3: invalid JSON: nested too deeply"),
    Case("wrangler-ttl-5000-digits", import_file("w.json", '[{"key":"w","value":"x","expiration_ttl":' + "9" * 5000
                                                 + '},\n{"key":"v","value":"y"}]'), 7,
         "w.json:1: key 'w': \"expiration_ttl\" is a 5000-digit number", writes={"v": b"y"}),
    Case("setup-json-5000-digits", import_file("s.json", '{"n": ' + "9" * 5000 + ',\n"t": "ok"}', "--format",
                                               "setup-json"), 7, "s.json:1: key 'n': the value holds a 5000-digit",
         writes={"t": b"ok"}),
    Case("toml-5000-digits", import_file("f.toml", '[local_server.kv_stores]\nx = [{key="k", data="v"}]\n'
                                         'n = ' + "9" * 5000 + "\n"), 2, "f.toml:3: a 5000-digit number"),
    Case("ndjson-metadata-too-long", import_file("a.ndjson", line("a", metadata="m" * 2001)), 7, "limit is 2000"),
    Case("ndjson-metadata-not-text", import_file("a.ndjson", line("a", metadata={"x": 1})), 7,
         '"metadata" must be a string'),
    Case("ndjson-ttl-negative", import_file("a.ndjson", line("a", time_to_live_sec=-1)), 7, "invalid TTL -1"),
    Case("ndjson-ttl-absurd", import_file("a.ndjson", line("a", time_to_live_sec=10**20)), 7, "100 years"),
    Case("ndjson-value-over-limit", import_file("a.ndjson", line("a", b"x" * 200)), 7, "limit is 100 bytes",
         env={"KVCLI_MAX_VALUE_BYTES": "100"}),
    Case("ndjson-binary-garbage", import_file("g.ndjson", bytes(range(256)) * 8), 7, "entries failed"),
    Case("wrangler-expired", import_file("w.json", '[{"key":"w","value":"x","expiration":1}]'), 7, "in the past"),
    Case("wrangler-expiration-nan", import_file("w.json", '[{"key":"w","value":"x","expiration":NaN}]'), 7,
         '"expiration" must be epoch seconds'),
    Case("wrangler-ttl-infinite", import_file("w.json", '[{"key":"w","value":"x","expiration_ttl":1e400}]'), 7,
         '"expiration_ttl" must be a positive number'),
    Case("wrangler-truncated", import_file("w.json", '[{"key":"w","value":"x"},'), 2, "invalid JSON"),
    Case("wrangler-nested-too-deeply", import_file("w.json", "[" * 100_000), 2, "nested too deeply"),
    Case("viceroy-bad-keys", import_file("v.json", '{"": "x", "a#b": "y"}', "--format", "viceroy"), 7,
         "key is empty"),
    Case("toml-invalid", import_file("f.toml", "[[["), 2, "not valid TOML"),
    Case("toml-store-shape", import_file("f.toml", '[local_server.kv_stores]\nx = "y"\n'), 2,
         "must be an array of entries"),
    Case("toml-several-stores", import_file("f.toml", '[local_server.kv_stores]\na = [{key="k", data="v"}]\n'
                                            'b = [{key="k2", data="v"}]\n'), 2, "several KV stores"),
    Case("unknown-format", import_file("x.dat", "hello", "--format", "yaml"), 2, "unknown --format 'yaml'"),
    Case("binary-file-undetectable", import_file("x.bin", bytes(range(256)) * 4), 2, "cannot tell the format"),
    # ------------------------------------------------------------------------------- unreadable inputs and paths
    Case("file-missing", create("--file", "no-such-file.ndjson"), 2, "no such file"),
    Case("file-is-a-directory", lambda c: create("--file", str(c.files))(c), 2, "is a directory"),
    Case("file-dangling-symlink", lambda c: create("--file", _symlink(c, "dangling", c.files / "nowhere"))(c), 2,
         "no such file"),
    Case("file-under-a-file", lambda c: create("--file", c.file("plain", "x") + "/inner.ndjson")(c), 2,
         "not a directory"),
    Case("dir-missing", create("--dir", "no-such-dir"), 2, "no such file"),
    Case("dir-is-a-file", lambda c: create("--dir", c.file("plain", "x"))(c), 2, "not a directory"),
    Case("value-file-missing", create("-k", "k", "--value-file", "no-such-file"), 2, "cannot read --value-file"),
    Case("value-file-is-a-directory", lambda c: create("-k", "k", "--value-file", str(c.files))(c), 2,
         "is a directory"),
    Case("value-file-unreadable", create("-k", "k", "--value-file", "/proc/self/mem"), 2, "input/output error"),
    # -------------------------------------------------------------------------------------- keys, values, TTLs
    Case("key-dotdot", create("-k", "..", "--value", "x"), 2, "cannot be '.' or '..'"),
    Case("key-empty", create("-k", "", "--value", "x"), 2, "key is empty"),
    Case("key-newline", create("-k", "a\nb", "--value", "x"), 2, "forbidden character"),
    Case("key-too-long", create("-k", "k" * 1025, "--value", "x"), 2, "limit is 1024 bytes"),
    Case("key-acme-challenge", create("-k", ".well-known/acme-challenge/t", "--value", "x"), 2, "acme-challenge"),
    Case("key-lone-surrogate", create("-k", "\udcff", "--value", "x"), 2, "not valid Unicode"),
    Case("metadata-too-long", create("-k", "k", "--value", "x", "--metadata", "m" * 2001), 2, "limit is 2000"),
    Case("metadata-newline", create("-k", "k", "--value", "x", "--metadata", "a\nb"), 2, "CR or LF"),
    Case("value-over-limit", create("-k", "k", "--value-file", "-"), 2, "value size limit", input=b"x" * 2000,
         env={"KVCLI_MAX_VALUE_BYTES": "1000"}),
    Case("ttl-zero", create("-k", "k", "--value", "x", "--ttl", "0"), 2, "--ttl"),
    Case("ttl-absurd", create("-k", "k", "--value", "x", "--ttl", str(10**20)), 2, "100 years"),
    Case("generation-not-a-number", create("-k", "k", "--value", "x", "--if-generation-match", "abc"), 2,
         "--if-generation-match"),
    Case("generation-mismatch", entry("delete", "-k", "present", "--if-generation-match", "12345"), 4,
         "generation mismatch"),
    # ------------------------------------------------------------------------------------ missing stores, keys
    Case("store-id-missing-get", ["kv-store-entry", "get", "--store-id", "nosuchstore", "-k", "k"], 3, "not found"),
    Case("store-name-missing-create", ["kv-store-entry", "create", "--store-name", "nosuch", "-k", "a", "--value",
                                       "b"], 3, "no KV store named 'nosuch'"),
    Case("store-missing-import", lambda c: ["kv-store-entry", "create", "--store-id", "nosuchstore", "--file",
                                            c.file("a.ndjson", line("a"))], 3, "not found"),
    Case("store-missing-export", ["kv-store-entry", "export", "--store-id", "nosuchstore"], 3, "not found"),
    Case("store-missing-list", ["kv-store-entry", "list", "--store-id", "nosuchstore"], 3, "not found"),
    Case("store-missing-delete-all", ["kv-store-entry", "delete", "--store-id", "nosuchstore", "--all", "-y"], 3,
         "not found"),
    Case("store-missing-describe", ["kv-store", "describe", "--store-id", "nosuchstore"], 3, "not found"),
    Case("key-missing", entry("get", "-k", "absent"), 3, "'absent' not found"),
    Case("store-not-empty", lambda c: ["kv-store", "delete", "--store-id", c.sid], 4, "not empty"),
    Case("store-name-taken", ["kv-store", "create", "--name", "hostile"], 2, "already exists"),
    Case("store-name-control-chars", ["kv-store", "create", "--name", "a\x1bb"], 2, "control characters"),
    # ------------------------------------------------------------------------------ bad flags and combinations
    Case("unknown-option", ["kv-store", "list", "--bogus"], 2, "no such option"),
    Case("unknown-command", ["kv-stor", "list"], 2, "no such command"),
    Case("missing-required-option", ["kv-store", "create"], 2, "missing option '--name'"),
    Case("file-and-stdin", create("--file", "x", "--stdin"), 2, "--file and --stdin"),
    Case("add-and-append", create("-k", "a", "--value", "b", "--add", "--append"), 2, "cannot be combined"),
    Case("store-id-and-name", entry("get", "--store-name", "hostile", "-k", "x"), 2, "not both"),
    Case("verbose-and-quiet", ["-v", "-q", "kv-store", "list"], 2, "cannot be combined"),
    Case("local-and-token", ["--local", "-t", "x", "kv-store", "list"], 2, "cannot be combined"),
    Case("empty-token", ["--token", "", "kv-store", "list"], 2, "--token is empty"),
    Case("resume-with-stdin", create("--stdin", "--resume"), 2, "stdin cannot be re-read"),
    Case("resume-and-dry-run", import_file("a.ndjson", line("a"), "--resume", "--dry-run"), 2, "cannot be combined"),
    Case("bulk-flag-without-bulk", create("-k", "a", "--value", "b", "--resume"), 2, "only applies to a bulk"),
    Case("batch-size-zero", import_file("a.ndjson", line("a"), "--batch-size", "0"), 2, "at least 1"),
    Case("delete-all-without-yes", entry("delete", "--all"), 2, "-y"),
    Case("delete-prefix-and-all", entry("delete", "--all", "--prefix", "x"), 2, "cannot be combined"),
    Case("delete-concurrency-zero", entry("delete", "--all", "-y", "--concurrency", "0"), 2, "at least 1"),
    Case("list-bad-cursor", entry("list", "--cursor", "garbage!"), 2, "invalid cursor"),
    Case("list-limit-zero", entry("list", "--limit", "0"), 2, "--limit"),
    Case("export-unknown-format", entry("export", "--format", "csv"), 2, "unknown export format 'csv'"),
    Case("export-dir-without-output", entry("export", "--format", "dir"), 2, "--output"),
    Case("export-json-without-output", entry("export", "--json"), 2, "--output"),
    Case("export-output-unwritable", lambda c: entry("export", "-O", str(c.files / "no" / "out.ndjson"))(c), 2,
         "cannot write"),
    Case("export-dir-onto-a-file", lambda c: entry("export", "--format", "dir", "-O", c.file("plain", "x"))(c), 2,
         "not a directory"),
    Case("failed-out-unwritable", lambda c: import_file("a.ndjson", line("a"), "--failed-out",
                                                        str(c.files / "no" / "f"))(c), 2, "cannot write --failed-out"),
    Case("sync-without-dir", entry("sync"), 2, "no directory given"),
    Case("serve-port-out-of-range", ["local", "serve", "--port", "99999"], 2, "--port"),
    Case("profile-bad-endpoint", ["profile", "create", "p", "-t", "tok", "--endpoint", "ftp://x"], 2,
         "invalid endpoint"),
    # ------------------------------------------------------------------------------------------ configuration
    Case("config-invalid-toml", ["kv-store", "list"], 1, "not valid TOML", setup=lambda c: c.config_file("[[[")),
    Case("config-not-utf8", ["kv-store", "list"], 1, "not UTF-8", setup=lambda c: c.config_file(b"\xff\xfe= 1")),
    Case("config-unreadable", ["kv-store", "list"], 1, "cannot read config file",
         setup=lambda c: (c.config / "config.toml").mkdir(parents=True)),
    Case("config-wrong-types", ["kv-store", "list"], 1, "must be a string",
         setup=lambda c: c.config_file("default_profile = 3\n")),
    Case("config-dangling-default", ["kv-store", "list"], 1, "names no profile",
         setup=lambda c: c.config_file('default_profile = "gone"\n')),
    Case("config-world-readable-token", ["kv-store", "list"], 1, "chmod 600",
         setup=lambda c: c.config_file(TOKEN_CONFIG, 0o644)),
    Case("config-group-readable-token", ["-o", "work", "kv-store", "list"], 1, "readable by other users",
         setup=lambda c: c.config_file(TOKEN_CONFIG, 0o640)),
    Case("unknown-profile", ["--profile", "ghost", "kv-store", "list"], 1, "'ghost' does not exist"),
    Case("env-timeout-nan", ["--endpoint", "http://127.0.0.1:1", "kv-store", "list"], 1, "KVCLI_HTTP_TIMEOUT",
         env={"KVCLI_HTTP_TIMEOUT": "nan"}),
    Case("env-attempts-garbage", ["--endpoint", "http://127.0.0.1:1", "kv-store", "list"], 1,
         "KVCLI_HTTP_MAX_ATTEMPTS", env={"KVCLI_HTTP_MAX_ATTEMPTS": "many"}),
    # ---------------------------------------------------------------------------------------------- bad URLs
    Case("endpoint-bad-scheme", ["--endpoint", "ftp://x", "kv-store", "list"], 1, "invalid API endpoint"),
    Case("endpoint-no-host", ["--endpoint", "http://", "kv-store", "list"], 1, "invalid API endpoint"),
    Case("endpoint-not-a-url", ["--endpoint", "not a url", "kv-store", "list"], 1, "invalid API endpoint"),
    Case("endpoint-with-query", ["--endpoint", "http://127.0.0.1:1/?x=1", "kv-store", "list"], 1,
         "invalid API endpoint"),
    Case("endpoint-remote-without-token", ["--endpoint", "https://example.invalid", "kv-store", "list"], 1,
         "no API token"),
    Case("endpoint-refused", ["--endpoint", "http://127.0.0.1:1", "kv-store", "list"], 1, "cannot connect",
         env=NO_RETRY),
    # ------------------------------------------------------------------------------------------------- stdin
    Case("stdin-truncated-last-line", create("--stdin"), 7, "invalid JSON", input=line("good") + '{"key":"b","va',
         writes={"good": b"a"}),
    Case("stdin-io-error", create("-k", "k", "--value-file", "-"), 1, "input/output error",
         input=failing_stdin(b"partial", OSError(5, "Input/output error"))),
]


def _symlink(c: Ctx, name: str, target: Path) -> str:
    p = c.files / name
    if not p.is_symlink():
        p.symlink_to(target)
    return str(p)


@pytest.fixture
def ctx(isolated, tmp_path) -> Ctx:
    from kvcli.local.engine import Engine

    eng = Engine.in_dir(isolated["data"])
    sid = eng.create_store("hostile").id
    eng.put_item(sid, "present", b"v")
    eng.close()
    files = tmp_path / "files"
    files.mkdir()
    return Ctx(sid, files, isolated["config"], isolated["data"])


def test_the_table_is_big_enough():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_error_line_with_a_hint_and_writes_only_what_it_reports(case, ctx, cli, monkeypatch):
    """One row of the table (see CASES)."""
    monkeypatch.chdir(ctx.files)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    if case.setup:
        case.setup(ctx)
    before = stored(ctx.data, ctx.sid)
    args = case.args(ctx) if callable(case.args) else case.args
    stdin = case.input(ctx) if callable(case.input) else case.input
    res = cli(*args, input=stdin)

    assert res.exit_code == case.code, res
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    assert lines[-1] == errors[0], "the error is the last thing said"
    assert re.search(r"\(hint: .+\)$", errors[0]), errors[0]
    assert "internal error" not in errors[0]
    assert case.needle.lower() in res.stderr.lower(), (case.needle, res.stderr)

    for k in ("FASTLY_API_TOKEN", *case.env):
        monkeypatch.delenv(k, raising=False)
    after = stored(ctx.data, ctx.sid)
    assert after == {**before, **case.writes}, "a write happened that was not reported (or a reported one is missing)"
    reported = re.findall(r"written (\d+)", res.stderr)
    if case.writes or reported:
        assert reported and int(reported[-1]) == len(case.writes), res.stderr


# ---------------------------------------------------------------------------------------- interrupted stdin
def test_ctrl_c_while_reading_a_value_from_stdin_writes_nothing(ctx, cli):
    res = cli(*create("-k", "k", "--value-file", "-")(ctx), input=failing_stdin(b"part", KeyboardInterrupt())(ctx))
    assert res.exit_code == 130, res
    assert "Traceback" not in res.stderr
    assert len([x for x in res.stderr.splitlines() if x.strip()]) <= 1
    assert stored(ctx.data, ctx.sid) == {"present": b"v"}


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(5, "Input/output error")], ids=["ctrl-c", "io-error"])
def test_stdin_failing_in_the_middle_of_an_import_reports_exactly_what_was_written(ctx, cli, exc):
    """2 MB arrive, then stdin fails: the chunks written before are reported (summary line) and are all there."""
    n = 45_000  # about 1.4 MB: more than the first read of the NDJSON reader
    data = "".join(line(f"s{i:05d}") for i in range(n)).encode()
    args = create("--stdin", "--format", "ndjson", "--batch-size", "1000")(ctx)
    res = cli(*args, input=failing_stdin(data, exc)(ctx))
    assert res.exit_code == (130 if isinstance(exc, KeyboardInterrupt) else 1), res
    assert "Traceback" not in res.stderr
    errors = [x for x in res.stderr.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    assert ("interrupted" if isinstance(exc, KeyboardInterrupt) else "input/output error") in errors[0].lower()
    written = int(re.findall(r"written ([\d,]+)", res.stderr)[-1].replace(",", ""))
    assert 0 < written < n and written % 1000 == 0, written
    assert stored(ctx.data, ctx.sid) == {"present": b"v", **{f"s{i:05d}": b"a" for i in range(written)}}


# --------------------------------------------------------------------------------------------- directory loops
def test_directory_loops_and_outward_symlinks_are_not_followed(ctx, cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not import")
    root = ctx.files / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("inside")
    (root / "sub" / "up").symlink_to("..")  # a loop
    (root / "self").symlink_to(root)  # another loop
    (root / "out").symlink_to(outside)  # a way out
    (root / "secret-link").symlink_to(outside / "secret")
    for cmd in (["create", "--dir", str(root), "--recursive"], ["sync", "--dir", str(root)]):
        res = cli("kv-store-entry", cmd[0], "--store-id", ctx.sid, *cmd[1:], "-y")
        assert res.exit_code == 0, res
        assert "Traceback" not in res.stderr
        content = stored(ctx.data, ctx.sid)
        assert content == {"present": b"v", "sub/f": b"inside"}, content
