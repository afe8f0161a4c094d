"""The retry settings the reliability tests rely on can be set from the environment."""

from __future__ import annotations

import pytest

from kvcli.api.errors import ConfigError
from kvcli.api.http.client import FastlyHttp


def test_backoff_base_comes_from_the_environment():
    env = {"KVCLI_HTTP_BACKOFF_BASE": "0.01", "KVCLI_HTTP_MAX_ATTEMPTS": "9", "KVCLI_HTTP_MAX_RETRY_SECONDS": "3"}
    with FastlyHttp("http://127.0.0.1:9", None, env=env) as http:
        assert http.retry.base_delay == 0.01
        assert http.retry.max_attempts == 9
        assert http.retry.max_retry_seconds == 3
    with FastlyHttp("http://127.0.0.1:9", None, env={}) as http:
        assert http.retry.base_delay == 0.5


@pytest.mark.parametrize("raw", ["-1", "soon", "nan", "inf"])
def test_a_malformed_backoff_base_is_a_config_error_naming_it(raw):
    with pytest.raises(ConfigError) as info:
        FastlyHttp("http://127.0.0.1:9", None, env={"KVCLI_HTTP_BACKOFF_BASE": raw})
    assert "KVCLI_HTTP_BACKOFF_BASE" in info.value.message
