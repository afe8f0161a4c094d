"""kvcli.connect(): the CLI's backend precedence, kvcli's settings from arguments or KVCLI_* variables, and no
reading of the environment after connect() returns."""

from __future__ import annotations

import os

import pytest

import kvcli
from kvcli import config


def test_default_is_the_embedded_backend_in_the_default_data_dir(isolated):
    with kvcli.connect() as kv:
        assert kv.local
        assert kv.target.data_dir == isolated["data"]
        assert kv.target.source.startswith("default")
        kv.create_store("here")
    assert (isolated["data"] / "kvcli.db").exists()


def test_data_dir_and_local(tmp_path, isolated):
    with kvcli.connect(data_dir=tmp_path / "elsewhere") as kv:
        assert kv.local and kv.target.data_dir == tmp_path / "elsewhere"
        kv.create_store("x")
    assert (tmp_path / "elsewhere" / "kvcli.db").exists()
    with kvcli.connect(local=True, env={**os.environ, "FASTLY_API_TOKEN": "t"}) as kv:
        assert kv.local and kv.target.data_dir == isolated["data"]  # local=True wins over the environment


def test_environment_chooses_the_fastly_api(served):
    env = {**os.environ, "FASTLY_API_ENDPOINT": served.url, "FASTLY_API_TOKEN": served.token}
    with kvcli.connect(env=env) as kv:
        assert not kv.local
        assert kv.target.endpoint == served.url and kv.target.source == "FASTLY_API_TOKEN"
        kv.create_store("from-env-" + os.urandom(4).hex())


def test_profiles_as_in_the_cli(isolated, tmp_path, served):
    cfg = config.Config(path=config.config_path())
    cfg.profiles["dev"] = config.Profile(name="dev", type="local", data_dir=str(tmp_path / "dev-data"))
    cfg.profiles["api"] = config.Profile(name="api", type="fastly", token=served.token, endpoint=served.url)
    cfg.default_profile = "dev"
    config.save(cfg)
    with kvcli.connect() as kv:
        assert kv.local and kv.target.data_dir == tmp_path / "dev-data" and kv.target.profile == "dev"
    with kvcli.connect(profile="api") as kv:
        assert not kv.local and kv.target.endpoint == served.url
        kv.create_store("profile-" + os.urandom(4).hex())
    with kvcli.connect(env={**os.environ, "KVCLI_PROFILE": "api"}) as kv:
        assert kv.target.profile == "api"
    with kvcli.connect(token="api") as kv:  # a token that names a stored profile: its token and endpoint
        assert kv.target.endpoint == served.url and kv.target.token == served.token
    with pytest.raises(kvcli.ConfigError) as caught:
        kvcli.connect(profile="nope")
    assert caught.value.kind == "config"


def test_conflicting_or_empty_arguments(tmp_path):
    with pytest.raises(kvcli.InvalidInput):
        kvcli.connect(data_dir=tmp_path, token="t")
    with pytest.raises(kvcli.InvalidInput):
        kvcli.connect(local=True, endpoint="http://127.0.0.1:1")
    with pytest.raises(kvcli.InvalidInput, match="token= is empty"):
        kvcli.connect(token=" ")
    with pytest.raises(kvcli.InvalidInput, match="timeout"):
        kvcli.connect(data_dir=tmp_path, timeout=0)
    with pytest.raises(kvcli.InvalidInput, match="max_attempts"):
        kvcli.connect(data_dir=tmp_path, max_attempts=1.5)  # type: ignore[arg-type]


def test_settings_default_from_kvcli_variables(served):
    env = {**os.environ, "KVCLI_HTTP_TIMEOUT": "7", "KVCLI_HTTP_MAX_ATTEMPTS": "2", "KVCLI_MAX_VALUE_BYTES": "1000"}
    with kvcli.connect(endpoint=served.url, token=served.token, env=env) as kv:
        assert (kv.settings.timeout, kv.settings.max_attempts, kv.settings.max_value_bytes) == (7.0, 2, 1000)
        assert kv.api.timeout.read == 7.0 and kv.api.retry.max_attempts == 2
        assert kv.api.max_value_bytes == 1000
    with kvcli.connect(endpoint=served.url, token=served.token, env=env, timeout=3, max_attempts=4) as kv:
        assert kv.api.timeout.read == 3.0 and kv.api.retry.max_attempts == 4  # arguments win
    with kvcli.connect(endpoint=served.url, token=served.token, env={}) as kv:  # env={}: the environment ignored
        assert kv.settings.timeout is None and kv.api.retry.max_attempts == 5


def test_a_malformed_http_variable_matters_only_for_the_fastly_api(served, tmp_path):
    env = {**os.environ, "KVCLI_HTTP_TIMEOUT": "soon"}
    with pytest.raises(kvcli.ConfigError, match="KVCLI_HTTP_TIMEOUT"):
        kvcli.connect(endpoint=served.url, env=env)
    with kvcli.connect(data_dir=tmp_path, env=env) as kv:  # as in the CLI: the embedded backend ignores it
        assert kv.local


def test_the_value_limit_is_read_once_by_connect(tmp_path, monkeypatch):
    monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "10")
    with kvcli.connect(data_dir=tmp_path) as kv:
        store = kv.create_store("limits")
        with pytest.raises(kvcli.TooLarge) as caught:
            store["big"] = b"x" * 11
        assert caught.value.kind == "too_large" and isinstance(caught.value, kvcli.InvalidInput)
        monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "1000")  # after connect(): no effect on this connection
        with pytest.raises(kvcli.TooLarge):
            store["big"] = b"x" * 11
    monkeypatch.delenv("KVCLI_MAX_VALUE_BYTES")
    with kvcli.connect(data_dir=tmp_path, max_value_bytes=100) as kv:
        monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "10")
        store = kv.store("limits")
        store["big"] = b"x" * 50
        assert store["big"] == b"x" * 50
        path = tmp_path / "import.ndjson"
        path.write_text('{"key":"imported","value":"' + "eHh4" * 20 + '"}\n')  # 60 bytes: within 100
        assert store.import_file(path).written == 1


def test_the_http_value_limit_on_reads_is_the_connections(served, monkeypatch):
    with kvcli.connect(endpoint=served.url, token=served.token, max_value_bytes=10) as kv:
        monkeypatch.setenv("KVCLI_MAX_VALUE_BYTES", "1")  # read by nothing after connect()
        store = kv.create_store("read-limit-" + os.urandom(4).hex())
        store["v"] = b"0123456789"
        assert store["v"] == b"0123456789"


def test_errors_have_stable_kinds():
    kinds = {
        kvcli.KvcliError: "error", kvcli.NotFound: "not_found", kvcli.Conflict: "conflict",
        kvcli.PreconditionFailed: "precondition_failed", kvcli.AuthError: "auth", kvcli.RateLimited: "rate_limited",
        kvcli.InvalidInput: "invalid_input", kvcli.TooLarge: "too_large", kvcli.TransportError: "transport",
        kvcli.PartialFailure: "partial_failure", kvcli.ConfigError: "config", kvcli.ServerError: "server_error",
        kvcli.Interrupted: "interrupted", kvcli.Closed: "closed", kvcli.UsageError: "usage",
        kvcli.VersionLocked: "version_locked", kvcli.ApiError: "api_error", kvcli.StorageError: "storage",
    }
    for cls, kind in kinds.items():
        assert cls.kind == kind
        assert issubclass(cls, kvcli.KvcliError)
    assert len(set(kinds.values())) == len(kinds)
    err = kvcli.NotFound("key 'k' not found")
    assert str(err) == "key 'k' not found" and isinstance(err, KeyError)
    assert not hasattr(err, "exit_code")  # exit codes are the CLI's (kvcli.cli.exits), not the library's


def test_auth_error_over_http(served):
    with kvcli.connect(endpoint=served.url, token="wrong-token", max_attempts=1) as kv:
        with pytest.raises(kvcli.AuthError) as caught:
            list(kv.stores())
        assert caught.value.kind == "auth" and caught.value.operation == "stores"
        assert "wrong-token" not in str(caught.value)


def test_transport_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with kvcli.connect(endpoint=f"http://127.0.0.1:{port}", max_attempts=1) as kv:
        with pytest.raises(kvcli.TransportError) as caught:
            kv.store("anything")
        assert caught.value.kind == "transport"


class WatchedEnviron(dict):
    """os.environ's stand-in that records every variable read."""

    def __init__(self, base) -> None:
        super().__init__(base)
        self.read: list[str] = []

    def __getitem__(self, name):
        self.read.append(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.append(name)
        return super().get(name, default)

    def __contains__(self, name) -> bool:
        self.read.append(name)
        return super().__contains__(name)


def test_nothing_reads_a_variable_after_connect(kv, tmp_path, monkeypatch):
    """Items, listing, bulk delete, import and export: no os.environ access once the connection exists."""
    watched = WatchedEnviron(os.environ)
    monkeypatch.setattr(os, "environ", watched)
    store = kv.create_store("env-" + os.urandom(4).hex())
    store["k"] = "v"
    store.put("m", b"x", metadata="meta", ttl=60, mode="overwrite")
    assert store["k"] == b"v" and "k" in store and store.describe("m").size == 1
    backup = tmp_path / "backup.ndjson"
    store.export(backup)
    copy = kv.create_store("env-copy-" + os.urandom(4).hex())
    copy.import_file(backup)
    copy.import_file(backup, resume=True)
    assert sorted(copy) == ["k", "m"] and [s.id for s in kv.stores() if s.id == copy.id] == [copy.id]
    assert copy.delete_prefix("k") == 1 and copy.clear() == 1 and store.clear() == 2
    ours = [name for name in watched.read if name.startswith(("KVCLI_", "FASTLY_", "XDG_"))]
    assert ours == []
