"""How the explorer classifies a value for display: only images of a safe type are previewed, never SVG."""

from __future__ import annotations

import base64
import json

from kvcli.ui.values import HEX_LIMIT, describe_value, image_type


def test_svg_and_html_are_text_never_an_image():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    for value in (svg, b"<?xml version='1.0'?>" + svg, b"<html><script>x</script></html>"):
        shown = describe_value(value)
        assert shown["kind"] == "text" and shown["text"] == value.decode()
        assert image_type(value) is None


def test_safe_image_types_are_recognised_by_their_bytes():
    assert image_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 20) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0" + b"\0" * 20) == "image/jpeg"
    assert image_type(b"GIF89a" + b"\0" * 20) == "image/gif"
    assert image_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    shown = describe_value(b"GIF89a" + b"\0" * 20)
    assert shown["kind"] == "image" and base64.b64decode(shown["base64"]) == b"GIF89a" + b"\0" * 20
    assert image_type(b"BM") is None  # two letters of text are not a bitmap


def test_json_is_pretty_printed_and_binary_is_hex_up_to_the_limit():
    shown = describe_value(b'{"a":[1,2],"b":"\xc3\xa9"}')
    assert shown["kind"] == "json" and json.loads(shown["pretty"]) == {"a": [1, 2], "b": "é"}
    assert shown["pretty"].startswith('{\n  "a": [')
    assert describe_value(b"{not json")["kind"] == "text"
    binary = describe_value(bytes(range(256)) * 100)
    assert binary["kind"] == "binary" and binary["hex_truncated"] is True
    assert len(binary["hex"].splitlines()) == HEX_LIMIT // 16
    assert binary["hex"].splitlines()[0] == "00000000  " + " ".join(f"{b:02x}" for b in range(16)) + \
        "  |................|"
    assert describe_value(b"a\x00b")["kind"] == "binary"
    assert describe_value(b"")["kind"] == "empty"
