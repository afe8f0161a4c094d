"""``--failed-out FILE`` of an import: every failed entry as a Fastly batch line, ready to be fixed and fed back in."""

from __future__ import annotations

import base64
import json
from typing import IO

from kvcli.bulk.records import Bad, Entry

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def entry_line(entry: Entry) -> str | None:
    """The Fastly batch line for an entry (None when its value was never read)."""
    if entry.value is None:
        return None
    obj: dict = {"key": entry.key, "value": base64.b64encode(entry.value).decode("ascii")}
    if entry.metadata is not None:
        obj["metadata"] = entry.metadata
    if entry.ttl is not None:
        obj["time_to_live_sec"] = entry.ttl
    if entry.background_fetch:
        obj["background_fetch"] = True
    return _encode(obj)


class FailedOut:
    """``--failed-out FILE``: every failed entry as a Fastly batch line, ready to be fixed and fed back in."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.count = 0

    def write_entry(self, entry: Entry) -> None:
        line = entry_line(entry)
        if line is not None:
            self.fh.write(line + "\n")
            self.count += 1

    def write_bad(self, bad: Bad) -> None:
        if bad.entry is not None:
            self.write_entry(bad.entry)
        elif bad.raw is not None:  # an NDJSON line that could not be parsed: written as it was, for fixing
            self.fh.write(bad.raw + "\n")
            self.count += 1
