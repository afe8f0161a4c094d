"""What ``kvcli profile`` checks in its input: names, tokens (``--token``, ``--token-stdin``), endpoints, paths."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kvcli.api.errors import UsageError


def _check_name(name: str) -> None:
    if not name.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or name != name.strip():
        raise UsageError(f"invalid profile name {name!r}", "use a non-empty name without control characters or "
                         "leading/trailing spaces")


def _abs_dir(path: str | None) -> str | None:
    """Profiles store absolute data paths, so a profile works from any working directory."""
    if path is None:
        return None
    from pathlib import Path

    return str(Path(path).expanduser().absolute())


def _check_token(token: str | None) -> None:
    """An explicitly empty --token (often an unset variable: --token "$TOKEN") is a mistake, not "no token"."""
    if token is not None and not token.strip():
        raise UsageError(
            "--token is empty", 'pass the token itself, e.g. --token "$FASTLY_API_TOKEN"; is the variable set?'
        )


def _read_token_stdin() -> str:
    """The token piped on stdin (``--token-stdin``): one trailing newline stripped; empty or multi-line refused."""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the token on stdin is not UTF-8 text", "pipe the token itself") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UsageError(
            "--token-stdin read no token (stdin was empty)",
            "pipe the token, e.g. printf '%s' \"$FASTLY_API_TOKEN\" | kvcli profile create NAME --token-stdin",
        )
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise UsageError(
            "the token on stdin contains a space, a line break or a control character",
            "pipe only the token, on one line",
        )
    return text


def _token_from(token: str | None, token_stdin: bool) -> str | None:
    if token_stdin:
        if token is not None:
            raise UsageError("--token and --token-stdin cannot be combined", "pass the token one way")
        return _read_token_stdin()
    _check_token(token)
    return token


TokenStdinOpt = Annotated[
    bool,
    typer.Option(
        "--token-stdin",
        help="Read the token from stdin (one trailing newline is stripped); unlike --token it never shows in ps.",
    ),
]


def _check_endpoint(endpoint: str | None) -> None:
    if endpoint is None:
        return
    from urllib.parse import urlparse

    u = urlparse(endpoint)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise UsageError(f"invalid endpoint URL {endpoint!r}", "use a URL such as https://api.fastly.com")
