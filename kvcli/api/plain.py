"""Plain Fastly batch lines: exactly ``{"key": …, "value": …}`` with an ordinary key and a base64 value, the shape
of most import files. One regular-expression pass recognises a whole block of them, so the client's import
(:mod:`kvcli.bulk.lines`) and ``local serve``'s batch endpoint (:mod:`kvcli.local.server_batch`) read such blocks
without a JSON parse or a key check per line, and leave every other block to their per-line parsers.
"""

from __future__ import annotations

import re

#: one plain batch line. The key: 1-1024 printable ASCII characters that need no JSON escape and that every Fastly
#: key rule allows (no ``" \\ # ; ? ^ |``), not starting with ``.`` (so never ``.``, ``..`` or the ACME prefix); the
#: value: base64 characters with at most two ``=`` at the end (its length is checked to be a multiple of 4, which
#: makes it exactly what strict base64 decoding accepts). Groups: the line, the key, the value.
_PLAIN_LINE = re.compile(
    rb'^(\{"key": ?"((?!\.)[ !$-:<->@-\[\]_-{}~]{1,1024})", ?"value": ?"([A-Za-z0-9+/]*={0,2})"\})\n', re.M
)


def plain_lines(data: bytes) -> tuple[list[bytes], list[bytes], list[bytes]] | None:
    """(lines without their line break, keys, base64 values) of ``data`` (whole lines, each ending in ``\\n``) when
    every line is plain, else None. A key is valid by every Fastly key rule and a value is valid strict base64."""
    found = _PLAIN_LINE.findall(data)
    lines = [line for line, _, _ in found]
    if sum(map(len, lines)) + len(lines) != len(data):
        return None  # some line is not plain (each match is one whole line and its line break: they cover it all)
    values = [v for _, _, v in found]
    for v in values:
        if len(v) & 3:
            return None  # not a whole number of base64 quanta: the per-line parsers word the error
    return lines, [k for _, k, _ in found], values
