"""The bulk formats, each named once: what ``kv-store-entry create --file/--stdin`` reads and what ``export`` writes.

The sources' dispatch (:mod:`kvcli.bulk.sources`), the exporters (:mod:`kvcli.bulk.export`), the commands' help and
the errors' hints all take the names from here, so a new format is added in one place (and its reader or writer).
Imports nothing: the CLI reads it to build ``--help``.
"""

from __future__ import annotations

#: what a bulk import reads (``fastly-toml``/``setup-toml``: the two halves of a fastly.toml; ``toml`` picks one)
INPUT_FORMATS = ("ndjson", "wrangler", "viceroy", "setup-json", "fastly-toml", "setup-toml")
#: what an export writes, with what each is when it needs saying
EXPORT_FORMATS = ("ndjson", "viceroy", "wrangler", "dir")
EXPORT_NOTES = {"ndjson": "Fastly batch lines"}
#: the exports that are one file, with the file name suffix a download of one gets (``dir`` writes a directory)
FILE_EXPORT_SUFFIXES = {"ndjson": ".ndjson", "viceroy": ".json", "wrangler": ".json"}


def export_help() -> str:
    """``ndjson (Fastly batch lines), viceroy, wrangler or dir``."""
    named = [f"{f} ({EXPORT_NOTES[f]})" if f in EXPORT_NOTES else f for f in EXPORT_FORMATS]
    return ", ".join(named[:-1]) + " or " + named[-1]
