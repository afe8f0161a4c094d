"""Stores defined in a ``fastly.toml``: ``[local_server.kv_stores.<name>]`` (Viceroy) and ``[setup.kv_stores.<name>]``.

``local_server`` stores are either an inline array of ``{key, data | file, metadata?}`` tables or
``{file = "…", format = "json"}`` naming a Viceroy JSON object file (the older spellings ``object_stores`` and
``path`` are accepted too). ``setup`` stores have either ``items.<key> = {value | file, description?}`` or
``file = "…"`` naming a JSON object file whose non-string values become JSON text.

The TOML file itself is small and loaded whole; a referenced JSON file is streamed. Relative paths are resolved
against the directory of the fastly.toml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from kvcli.bulk.records import Bad, Record
from kvcli.bulk.sources.base import Source, SourceError, entry_from_text, file_entry, file_identity
from kvcli.bulk.sources.jsondoc import SetupJsonSource, ViceroyJsonSource, viceroy_entry

LOCAL = "fastly-toml"
SETUP = "setup-toml"
_SECTION_NAMES = {LOCAL: "local_server.kv_stores", SETUP: "setup.kv_stores"}


def load_toml(path: str) -> tuple[dict, list[str]]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise SourceError(f"open {path}: no such file or directory", "check the path of the file",
                          reason="file_missing") from None
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text.splitlines()
    except UnicodeDecodeError:
        raise SourceError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path} is not valid TOML: {exc}", "fix the file") from None
    except ValueError:  # an integer with more digits than int() converts (tomllib does not catch it)
        import re
        import sys

        limit = sys.get_int_max_str_digits()
        m = re.search(r"\d{%d,}" % (limit + 1), text)  # noqa: UP031 - a regex quantifier
        where = f"{path}:{text.count(chr(10), 0, m.start()) + 1}" if m else path
        digits = f"a {len(m.group())}-digit number" if m else "a number with too many digits"
        raise SourceError(f"{where}: {digits} (at most {limit} digits are read)", "fix the file") from None


def stores_in(doc: dict) -> list[tuple[str, str]]:
    """Every (format, store name) a fastly.toml defines."""
    found: list[tuple[str, str]] = []
    local = doc.get("local_server")
    if isinstance(local, dict):
        for section in ("kv_stores", "object_stores"):
            stores = local.get(section)
            if isinstance(stores, dict):
                found.extend((LOCAL, name) for name in stores)
    setup = doc.get("setup")
    if isinstance(setup, dict) and isinstance(setup.get("kv_stores"), dict):
        found.extend((SETUP, name) for name in setup["kv_stores"])
    return found


def _quoted_forms(name: str) -> str:
    return "(?:" + "|".join(re.escape(f) for f in (name, f'"{name}"', f"'{name}'")) + ")"


class TomlSource(Source):
    def __init__(self, path: str, fmt: str | None = None, store: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.label = path
        self.base_dir = os.path.dirname(os.path.abspath(path))
        doc, self._lines = load_toml(path)
        candidates = [c for c in stores_in(doc) if fmt is None or c[0] == fmt]
        if store is not None:
            candidates = [c for c in candidates if c[1] == store]
        if not candidates:
            everything = stores_in(doc)
            if not everything:
                raise SourceError(
                    f"{path} defines no KV stores",
                    "add [local_server.kv_stores.NAME] or [setup.kv_stores.NAME], or import another file",
                    reason="toml_no_stores",
                )
            listed = ", ".join(f"{_SECTION_NAMES[f]}.{n}" for f, n in everything)
            what = f"no store named {store!r}" if store is not None else "no store of that kind"
            raise SourceError(f"{path} has {what} (it has: {listed})", "pick one by its name", reason="toml_pick")
        if len(candidates) > 1:
            listed = ", ".join(f"{_SECTION_NAMES[f]}.{n}" for f, n in candidates)
            hint, reason = "pick one by its name", "toml_pick"
            if store is not None:
                hint, reason = "use format fastly-toml for local_server, or setup-toml for setup", "toml_pick_format"
            raise SourceError(f"{path} defines several KV stores ({listed})", hint, reason=reason)
        self.format, self.store = candidates[0]
        if self.format == LOCAL:
            stores = doc["local_server"].get("kv_stores") or {}
            if self.store not in stores:
                stores = doc["local_server"].get("object_stores") or {}
            self.spec = stores[self.store]
        else:
            self.spec = doc["setup"]["kv_stores"][self.store]
        self.inner: Source | None = self._inner()
        self.total_bytes = self.inner.total_bytes if self.inner is not None else None

    @property
    def section(self) -> str:
        return f"{_SECTION_NAMES[self.format]}.{self.store}"

    def describe(self) -> str:
        where = f"[{self.section}] in {self.path}"
        if self.inner is not None:
            where += f" (entries in {self.inner.label})"
        return where

    def _resolve(self, ref: str) -> str:
        return ref if os.path.isabs(ref) else os.path.join(self.base_dir, ref)

    def _inner(self) -> Source | None:
        spec = self.spec
        if self.format == LOCAL:
            if isinstance(spec, list):
                return None
            if not isinstance(spec, dict):
                raise SourceError(f"[{self.section}] in {self.path} must be an array of entries or {{file, format}}",
                                  "see Viceroy's KV store syntax for fastly.toml")
            ref, fmt = spec.get("file", spec.get("path")), spec.get("format")
            if ref is None or fmt is None:
                raise SourceError(
                    f"[{self.section}] in {self.path} sets only one of \"file\" and \"format\"",
                    "set both: { file = \"store.json\", format = \"json\" }",
                )
            if fmt != "json":
                raise SourceError(f"[{self.section}] in {self.path}: format {fmt!r} is not supported", 'use "json"')
            return ViceroyJsonSource(self._resolve(str(ref)), base_dir=self.base_dir)
        if not isinstance(spec, dict):
            raise SourceError(f"[{self.section}] in {self.path} must be a table")
        if "file" in spec:
            if "items" in spec:
                raise SourceError(f"[{self.section}] in {self.path} sets both \"file\" and \"items\"", "use one")
            return SetupJsonSource(self._resolve(str(spec["file"])), base_dir=self.base_dir)
        return None

    def identity(self) -> dict | None:
        ident: dict[str, object] = {"toml": file_identity(self.path), "store": self.section}
        if self.inner is not None:
            ident["inner"] = self.inner.identity()
        return ident

    def position(self) -> int:
        return self.inner.position() if self.inner is not None else self._position

    # ------------------------------------------------------------------------------------------- records
    def _line_of(self, pattern: str, occurrence: int = 0) -> int | None:
        rx = re.compile(pattern)
        seen = 0
        for i, text in enumerate(self._lines, start=1):
            if rx.search(text):
                if seen == occurrence:
                    return i
                seen += 1
        return None

    def records(self, start=None) -> Iterator[Record]:
        if self.inner is not None:
            yield from self.inner.records()
            return
        name = _quoted_forms(self.store)
        if self.format == LOCAL:
            yield from self._local_inline(name)
        else:
            yield from self._setup_items(name)

    def _local_inline(self, name: str) -> Iterator[Record]:
        header = rf"^\s*\[\[\s*local_server\s*\.\s*(?:kv|object)_stores\s*\.\s*{name}\s*\]\]"
        assign_line = self._line_of(rf"(?:kv|object)_stores\s*\.\s*{name}\s*=|^\s*{name}\s*=")
        for ordinal, item in enumerate(self.spec):
            line = self._line_of(header, ordinal) or assign_line
            if not isinstance(item, dict):
                yield Bad("entry is not a table", self.label, line, ordinal, code="invalid_line")
                continue
            key = item.get("key")
            if not isinstance(key, str):
                reason = "missing \"key\"" if key is None else "\"key\" must be a string"
                yield Bad(reason, self.label, line, ordinal, code="missing_key" if key is None else "invalid_key")
                continue
            rec = viceroy_entry(self, key, item, line)
            rec.ordinal = ordinal
            yield rec

    def _setup_items(self, name: str) -> Iterator[Record]:
        items = self.spec.get("items") or {}
        if not isinstance(items, dict):
            raise SourceError(f"[{self.section}.items] in {self.path} must be a table")
        for ordinal, (key, item) in enumerate(items.items()):
            kname = _quoted_forms(key)
            line = self._line_of(rf"items\s*\.\s*{kname}\s*[\]=]") or self._line_of(rf"^\s*{kname}\s*=")
            if not isinstance(item, dict):
                rec: Record = Bad("item must be a table with \"value\" or \"file\"", self.label, line, 0, key=key)
            elif "value" in item and "file" in item:
                rec = Bad("both \"value\" and \"file\" are set; use one", self.label, line, 0, key=key)
            elif "value" in item:
                value = item["value"]
                if not isinstance(value, str):
                    rec = Bad("\"value\" must be a string", self.label, line, 0, key=key)
                else:
                    rec = entry_from_text(key, value, file=self.label, line=line, ordinal=0)
            elif "file" in item:
                rec = file_entry(self.label, self.base_dir, key, item["file"], None, line)
            else:
                rec = Bad("neither \"value\" nor \"file\" is set", self.label, line, 0, key=key, code="missing_value")
            rec.ordinal = ordinal
            yield rec
