"""The HTTP client's endpoint URL: checked once (:func:`_check_endpoint`), and request paths built from components that
are each percent-encoded as exactly one segment (:func:`encode_segment`)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from kvcli.api.errors import ConfigError


def encode_segment(segment: str) -> str:
    """One path component, percent-encoded as a single segment (``/`` → ``%2F``; ``.``/``..`` kept as ``%2E``)."""
    if segment in (".", ".."):
        return segment.replace(".", "%2E")  # otherwise URL normalisation would remove them
    return quote(segment, safe="")


def _check_endpoint(endpoint: str) -> tuple[str, str]:
    """(endpoint without trailing slash, host) or ConfigError."""
    text = (endpoint or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"invalid API endpoint {endpoint!r}",
            "use a URL such as https://api.fastly.com or http://127.0.0.1:7676 as the endpoint, FASTLY_API_ENDPOINT "
            "or the profile's endpoint",
            reason="endpoint_invalid",
        )
    try:
        port = parts.port  # a port that is no number, or above 65535
    except ValueError:
        port = 0
    if port == 0 and parts.netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[1]:
        # port 0, or one out of range: never a port to connect to (httpx would dial the scheme's default port for 0,
        # or the given number modulo 65536, and send the token there)
        from kvcli.redact import redact_url

        raise ConfigError(
            f"invalid API endpoint {redact_url(text)!r}: the port must be a number from 1 to 65535",
            "give the port the server listens on, e.g. http://127.0.0.1:7676, or none for the scheme's default",
            reason="endpoint_invalid",
        )
    return text.rstrip("/"), parts.hostname
