"""Reading a response body with a bound on how much one step of gzip or deflate decoding may expand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kvcli.api.http.session import SendFailure

if TYPE_CHECKING:
    from kvcli.api.http.session import Session

DECODE_PIECE = 256 * 1024  # the most a compressed body may expand into at once


def decoded_chunks(response: Any, session: Session, piece: int = DECODE_PIECE) -> Iterator[bytes]:
    """The body of a streamed response, decoded, in pieces of at most ``piece`` bytes for gzip and deflate.

    httpx decodes each network read whole, so 64 KiB of a gzip bomb become 64 MiB in one step (and gzip inside gzip
    64 GiB); this decodes with a bound on each step of each layer instead. Several encodings are undone last one
    first, names httpx has no decoder for skipped, as httpx does; br and zstd are left to the session (httpx). A
    corrupt body raises :class:`~kvcli.api.http.session.SendFailure` of kind DecodingError, as httpx would.
    """
    if session.has_body(response):  # already read (e.g. built with content= by a test transport)
        yield response.content
        return
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from session.body_chunks(response)
        return
    names = [name.strip() for name in encoding.split(",")]
    if names == ["x-gzip"]:
        names = ["gzip"]
    if names[0] not in ("gzip", "deflate") if len(names) == 1 else any(name in ("br", "zstd") for name in names):
        yield from session.decoded_fallback(response)
        return
    chunks: Iterator[bytes] = session.body_chunks(response)
    for name in reversed(names):
        if name in ("gzip", "deflate"):
            chunks = _inflated(chunks, name, piece)
    yield from chunks


def _inflated(chunks: Iterator[bytes], encoding: str, piece: int) -> Iterator[bytes]:
    """One layer of gzip or deflate undone, at most ``piece`` bytes at a time."""
    import zlib  # only for an encoded answer

    # deflate: zlib-wrapped, as the RFC says; raw deflate is tried when that fails at once
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    started = False
    for raw in chunks:
        data = raw
        while data and not decoder.eof:
            try:
                out = decoder.decompress(data, piece)
            except zlib.error as exc:
                if encoding == "deflate" and not started:
                    decoder, started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise SendFailure("DecodingError", str(exc)) from None
            started = True
            data = decoder.unconsumed_tail
            if out:
                yield out
            while not data and len(out) == piece and not decoder.eof:  # output still pending inside zlib
                out = decoder.decompress(b"", piece)
                if out:
                    yield out
    try:
        rest = decoder.flush()
    except zlib.error as exc:
        raise SendFailure("DecodingError", str(exc)) from None
    if rest:
        yield rest
