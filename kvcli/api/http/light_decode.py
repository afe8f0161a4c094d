"""What the light session computes from an answer as httpx does: the encodings kvcli.api.http.decode leaves to the
session, and the Link header.

httpx reads ``Content-Encoding`` as a comma-separated list, ignores names it has no decoder for (the light session only
ever asks for gzip and deflate, so br and zstd are never decoded), and undoes the rest last one first.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from kvcli.api.http.session import SendFailure


class _Zlib:
    def __init__(self, name: str) -> None:
        self.deflate = name == "deflate"
        self.first = True
        self.z: Any = zlib.decompressobj(zlib.MAX_WBITS if self.deflate else zlib.MAX_WBITS | 16)

    def decode(self, data: bytes) -> bytes:
        first, self.first = self.first, False
        try:
            return self.z.decompress(data)
        except zlib.error as exc:
            if self.deflate and first:  # httpx's DeflateDecoder: raw deflate when the zlib header is missing
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data)
            raise SendFailure("DecodingError", str(exc)) from None

    def flush(self) -> bytes:
        try:
            return self.z.flush()
        except zlib.error as exc:
            raise SendFailure("DecodingError", str(exc)) from None


def decoded(values: list[str], raw: Iterable[bytes]) -> Iterator[bytes]:
    names = [v.strip().lower() for value in values for v in value.split(",")]
    decoders = [_Zlib(name) for name in reversed(names) if name in ("gzip", "deflate")]
    for data in raw:
        for d in decoders:
            data = d.decode(data)
        if data:
            yield data
    for i, d in enumerate(decoders):
        data = d.flush()
        for later in decoders[i + 1:]:
            data = later.decode(data)
        if data:
            yield data


def header_links(value: str | None) -> dict[str | None, dict[str, str]]:
    """httpx.Response.links: the Link header's entries by rel (else URL)."""
    import re

    links: list[dict[str, str]] = []
    strip = " '\""
    value = (value or "").strip(strip)
    for val in re.split(", *<", value) if value else []:
        url, _, params = val.partition(";")
        link = {"url": url.strip("<> '\"")}
        for param in params.split(";") if params else []:
            pair = param.split("=")
            if len(pair) != 2:
                break
            link[pair[0].strip(strip)] = pair[1].strip(strip)
        links.append(link)
    return {(link.get("rel") or link.get("url")): link for link in links}
