"""How the explorer shows a value: JSON, text, an image of a safe type, or hex. Pure functions, no I/O."""

from __future__ import annotations

import base64
import json
from typing import Any

#: image types shown as a preview, by their leading bytes. SVG is never among them: it is a document that can carry
#: script, so it is shown as text and offered as a download like any other value.
IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
#: hex is shown for at most this many bytes (the rest is in the download)
HEX_LIMIT = 16 * 1024


def image_type(value: bytes) -> str | None:
    """The MIME type of an image of a safe type (PNG, JPEG, GIF, WebP, BMP), from its bytes; None otherwise."""
    if len(value) >= 12 and value[:4] == b"RIFF" and value[8:12] == b"WEBP":
        return "image/webp"
    for magic, kind in IMAGE_MAGIC:
        if value.startswith(magic):
            return kind if kind != "image/bmp" or len(value) > 26 else None
    return None


def _text(value: bytes) -> str | None:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text) or "\x7f" in text:
        return None
    return text


def hex_dump(value: bytes, limit: int = HEX_LIMIT) -> str:
    """Lines of ``offset  16 bytes in hex  |printable|``, for at most ``limit`` bytes."""
    lines = []
    for offset in range(0, min(len(value), limit), 16):
        chunk = value[offset : offset + 16]
        hexed = " ".join(f"{b:02x}" for b in chunk)
        shown = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexed:<47}  |{shown}|")
    return "\n".join(lines)


def describe_value(value: bytes) -> dict[str, Any]:
    """What the page needs to show ``value``: ``kind`` (json, text, image, binary, empty) and its rendering."""
    if not value:
        return {"kind": "empty", "text": ""}
    kind = image_type(value)
    if kind is not None:
        return {"kind": "image", "image_type": kind, "base64": base64.b64encode(value).decode("ascii")}
    text = _text(value)
    if text is None:
        return {"kind": "binary", "hex": hex_dump(value), "hex_truncated": len(value) > HEX_LIMIT}
    out: dict[str, Any] = {"kind": "text", "text": text}
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return out
        out = {"kind": "json", "text": text, "pretty": json.dumps(parsed, indent=2, ensure_ascii=False)}
    return out
