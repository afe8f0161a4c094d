"""The one place that makes text safe to write: secrets redacted, control characters made visible.

:func:`redact` removes

* every credential in a URL (``scheme://user:password@host`` → ``scheme://[REDACTED]@host``);
* the value of a known secret field or header, whatever it is: ``"fastly-key": "…"``, ``'Fastly-Key': '…'``,
  ``["Fastly-Key", "…"]``, ``Fastly-Key: …``, ``Authorization: Bearer …``, ``"token": "…"``, ``token=…``;
* a registered secret (the API token, a URL password) standing as a whole quoted string, whatever its length;
* a registered secret anywhere as a substring once it has :data:`MIN_SUBSTRING` characters or more (a shorter one
  would mangle ordinary text: a token ``abc`` must not turn "abcdef" into "[REDACTED]def").

:func:`visible` escapes C0/C1 control characters, DEL and bidirectional overrides (``\\x1b``, ``\\u202e``), so that
text from a server or a stored key cannot set a terminal's title, clear it or reorder a line.

The CLI registers the secrets of its target (token, URL password) with :func:`add_secret` for the run; the HTTP
client passes its own to :func:`redact` explicitly. kvcli writes messages, debug dumps, tracebacks and journals
through these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_SUBSTRING = 6

_secrets: set[str] = set()

_ANY_NAME = r"fastly[-_]?key|(?:proxy-)?authorization|(?:api[-_]?)?token|api[-_]?key|set-cookie|cookie|password"
_HEADER_NAME = r"fastly[-_]?key|(?:proxy-)?authorization|set-cookie|cookie"
_NOT_REDACTED = r"(?!\[REDACTED\])"
#: the patterns, compiled at their first use (a command that writes nothing to redact never compiles them)
_SOURCES = {
    "url_credentials": r"(?i)\b([a-z][a-z0-9+.-]*://)(?!\[REDACTED\]@)[^/\s@?#\"'<>]+@",
    # "name": "value" / 'name': 'value' / ["name", "value"] / name="value" (a quote may be escaped: \"name\": \"value\")
    "quoted_field": rf"(?i)(\\?([\"'])(?:(?:{_ANY_NAME})\\?\2\s*[:=]|(?:{_HEADER_NAME})\\?\2\s*,)\s*)"
    rf"(?:(\\?[\"']){_NOT_REDACTED}.*?\3|{_NOT_REDACTED}[^\s,;}}\]]+)",
    # Fastly-Key: value / Authorization: Bearer value (plain-text echoes of headers)
    "header_field": rf"(?i)(\b(?:{_HEADER_NAME})\s*:\s*)(?:(?:bearer|basic|token)\s+)?{_NOT_REDACTED}[^\s,;\"'}}\]]+",
    # token=value in a query string or a form body
    "query_field": rf"(?i)([?&;\s](?:{_ANY_NAME})=){_NOT_REDACTED}[^&\s\"'#]+",
    "control": "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
    "control_keep_lines": "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
}
_compiled: dict[str, re.Pattern[str]] = {}


def _rx(name: str) -> re.Pattern[str]:
    pattern = _compiled.get(name)
    if pattern is None:
        pattern = _compiled[name] = re.compile(_SOURCES[name])
    return pattern


def add_secret(value: str | None) -> None:
    """Remember a secret so that everything kvcli writes from now on is redacted of it."""
    if value:
        _secrets.add(value)


def secrets() -> frozenset[str]:
    return frozenset(_secrets)


def forget_secrets() -> None:
    """Start afresh (each CLI run registers the secrets of its own target)."""
    _secrets.clear()


def redact_url(url: str) -> str:
    """``url`` without the credentials it may carry (``http://user:pw@host`` → ``http://[REDACTED]@host``)."""
    return _rx("url_credentials").sub(lambda m: m.group(1) + REDACTED + "@", url)


def url_secrets(url: str) -> list[str]:
    """The password (and user name) in a URL's userinfo, to register with :func:`add_secret`."""
    m = re.match(r"(?i)[a-z][a-z0-9+.-]*://([^/\s@?#]+)@", url or "")
    if not m:
        return []
    user, _, password = m.group(1).partition(":")
    return [s for s in (password, user) if s]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL credentials, known secret fields and the registered (and given) secrets redacted."""
    if not text:
        return text
    text = redact_url(text)
    text = _rx("quoted_field").sub(lambda m: m.group(1) + (m.group(3) or "") + REDACTED + (m.group(3) or ""), text)
    text = _rx("header_field").sub(lambda m: m.group(1) + REDACTED, text)
    text = _rx("query_field").sub(lambda m: m.group(1) + REDACTED, text)
    known = {s for s in (*_secrets, *secrets) if s and s != REDACTED}
    known |= {escaped for s in known if len(s) >= MIN_SUBSTRING for escaped in _escaped(s)}
    for secret in sorted(known, key=len, reverse=True):
        if len(secret) >= MIN_SUBSTRING:
            text = text.replace(secret, REDACTED)
        elif secret in text:
            quoted = re.escape(secret)
            text = re.sub(rf"(\\?[\"'])(?:{quoted})\1", lambda m: m.group(1) + REDACTED + m.group(1), text)
    return text


def _escaped(secret: str) -> set[str]:
    """How a secret with a backslash or quotes reads once quoted by repr (as h11's protocol errors quote what a
    server sent) or by JSON: the backslash doubled, a quote escaped."""
    doubled = secret.replace("\\", "\\\\")
    return {doubled, doubled.replace("'", "\\'"), doubled.replace('"', '\\"')} - {secret}


def visible(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``); tabs kept, and line breaks with ``keep_lines``."""
    pattern = _rx("control_keep_lines" if keep_lines else "control")
    return pattern.sub(_escape, text) if text else text


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str, secrets: Iterable[str] = (), *, keep_lines: bool = False) -> str:
    """:func:`redact` then :func:`visible`: what every line kvcli writes for a person goes through."""
    return visible(redact(text, secrets), keep_lines=keep_lines)
