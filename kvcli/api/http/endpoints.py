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
    return text.rstrip("/"), parts.hostname
