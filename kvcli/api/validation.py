"""Fastly's rules for keys, metadata, values, store names and locations, shared by every part of kvcli.

Key rules: the Fastly SDK rules (1-1024 UTF-8 bytes, no CR/LF, not ``.`` or ``..``, not under
``.well-known/acme-challenge/``) plus the characters ``# ; ? ^ |`` that the JS SDK and Viceroy refuse. The HTTP API
itself does not document its rule set, so kvcli applies the strictest published one: a key kvcli accepts works in
every Fastly runtime.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from kvcli.api.errors import InvalidInput, TooLarge
from kvcli.api.models import LOCATIONS

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2000
DEFAULT_MAX_VALUE_BYTES = 25 * 1024 * 1024
FORBIDDEN_KEY_CHARS = "#;?^|\r\n"
ACME_PREFIX = ".well-known/acme-challenge/"
#: one C-level scan for any forbidden character (a bulk import checks every key: a per-character set comprehension
#: was a sixth of its CPU time)
_FORBIDDEN_KEY_RE = re.compile("[" + re.escape(FORBIDDEN_KEY_CHARS) + "]")
MAX_STORE_NAME_BYTES = 255
#: Fastly documents no TTL limit; expiry must stay a real date (a 1e20 s TTL made every later read of the key fail)
MAX_TTL_SECONDS = 100 * 366 * 24 * 3600


def max_value_bytes(env: Mapping[str, str] | None = None) -> int:
    """The value size limit: ``KVCLI_MAX_VALUE_BYTES`` in ``env`` (default: the process's) if set, else 25 MiB."""
    raw = (os.environ if env is None else env).get("KVCLI_MAX_VALUE_BYTES")
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n > 0:
            return n
    return DEFAULT_MAX_VALUE_BYTES


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid Fastly KV key, or None when it is valid."""
    if not isinstance(key, str):
        return "key must be a string"
    if key.isascii():
        n = len(key)
    else:
        try:
            n = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            return "key is not valid Unicode"
    if n == 0:
        return "key is empty"
    if n > MAX_KEY_BYTES:
        return f"key is {n} bytes; the limit is {MAX_KEY_BYTES} bytes of UTF-8"
    if key in (".", ".."):
        return "key cannot be '.' or '..'"
    if key.startswith(ACME_PREFIX):
        return f"key cannot start with '{ACME_PREFIX}'"
    if _FORBIDDEN_KEY_RE.search(key) is not None:
        bad = sorted(set(_FORBIDDEN_KEY_RE.findall(key)))
        shown = ", ".join(repr(c) for c in bad)
        return f"key contains a forbidden character ({shown}); keys cannot contain # ; ? ^ | CR or LF"
    return None


def check_key(key: str) -> None:
    problem = key_problem(key)
    if problem:
        raise InvalidInput(f"invalid key {key[:80]!r}: {problem}", "choose a key that follows Fastly's key rules")


def metadata_problem(metadata: str | None) -> str | None:
    if metadata is None:
        return None
    if "\r" in metadata or "\n" in metadata:
        return "metadata cannot contain CR or LF"
    try:
        n = len(metadata.encode("utf-8"))
    except UnicodeEncodeError:
        return "metadata is not valid Unicode"
    if n > MAX_METADATA_BYTES:
        return f"metadata is {n} bytes; the limit is {MAX_METADATA_BYTES}"
    return None


def link_update_fields(name: str | None, resource_id: str | None) -> dict[str, str]:
    """The fields a resource-link update changes (those given and not empty); :class:`InvalidInput` when none is,
    on every backend (an empty update is a mistake, not a no-op)."""
    fields = {k: v for k, v in (("name", name), ("resource_id", resource_id)) if v}
    if not fields:
        raise InvalidInput("nothing to update", "give a new name", reason="link_update_empty")
    return fields


def check_metadata(metadata: str | None) -> None:
    problem = metadata_problem(metadata)
    if problem:
        raise InvalidInput(problem, "shorten the metadata or remove line breaks")


def check_value_size(size: int, limit: int | None = None) -> None:
    limit = max_value_bytes() if limit is None else limit
    if size > limit:
        raise TooLarge(
            f"value is {size} bytes; the limit is {limit} bytes",
            "store a smaller value, or raise KVCLI_MAX_VALUE_BYTES for the local backend",
        )


def check_ttl(ttl: int | None) -> None:
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        raise InvalidInput(f"invalid TTL {ttl!r}: time_to_live_sec must be a positive whole number of seconds")
    if ttl is not None and ttl > MAX_TTL_SECONDS:
        raise InvalidInput(f"invalid TTL {ttl:.4g}: more than {MAX_TTL_SECONDS} seconds (100 years)",
                           "use a shorter TTL, or none for a key that does not expire")


def check_store_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidInput("store name is empty", "pass a name that is not empty", reason="store_name_empty")
    if len(name.encode("utf-8")) > MAX_STORE_NAME_BYTES:
        raise InvalidInput(f"store name is longer than {MAX_STORE_NAME_BYTES} bytes", "choose a shorter name")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidInput("store name cannot contain control characters", "remove them from the name")


def check_location(location: str | None) -> None:
    if location is not None and location not in LOCATIONS:
        raise InvalidInput(
            f"invalid location {location!r}", f"use one of {', '.join(LOCATIONS)}, in upper case"
        )
