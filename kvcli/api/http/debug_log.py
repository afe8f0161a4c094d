"""The HTTP client's ``--debug`` output: requests and responses on stderr, secrets redacted (mixed into
:class:`kvcli.api.http.client.FastlyHttp`)."""

from __future__ import annotations

import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from kvcli.api.wire import H_KEY
from kvcli.redact import REDACTED, safe

SECRET_HEADERS = frozenset({H_KEY.lower(), "authorization", "proxy-authorization", "cookie", "set-cookie"})
DEBUG_BODY_CHARS = 1024


class DebugMixin:
    """``--debug`` lines. Needs the client's ``debug``, ``_secrets``, ``_debug_stream`` and ``_debug_lock``."""

    if TYPE_CHECKING:  # provided by FastlyHttp

        debug: bool
        _secrets: tuple[str, ...]
        _debug_stream: IO[str] | None
        _debug_lock: threading.Lock

    def _debug_line(self, line: str) -> None:
        if not self.debug:
            return
        line = safe(line, self._secrets)  # the token, URL credentials; escape sequences made visible
        stream = self._debug_stream or sys.stderr
        with self._debug_lock:
            stream.write(f"[debug] {line}\n")
            stream.flush()

    def _debug_headers(self, prefix: str, headers: Any) -> None:
        for raw_name, raw_value in headers.raw:
            name = raw_name.decode("latin-1")
            shown = REDACTED if name.lower() in SECRET_HEADERS else raw_value.decode(headers.encoding, "replace")
            self._debug_line(f"{prefix} {name}: {shown}")

    def _debug_body(self, prefix: str, body: bytes | None, content_type: str) -> None:
        if not body:
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._debug_line(f"{prefix} <{len(body)} bytes of binary data>")
            return
        shown = text[:DEBUG_BODY_CHARS].replace("\r", "\\r").replace("\n", "\\n")
        more = f" … ({len(body)} bytes in all)" if len(text) > DEBUG_BODY_CHARS else ""
        self._debug_line(f"{prefix} {shown}{more}")

    def _debug_request(self, request: Any, attempt: int) -> None:
        if not self.debug:
            return
        suffix = f" (attempt {attempt})" if attempt > 1 else ""
        self._debug_line(f"> {request.method} {request.url}{suffix}")
        self._debug_headers(">", request.headers)
        # a body given whole is shown (httpx reads it into the request at once); a streamed one is not
        body = getattr(request, "_content", None)
        self._debug_body(">", body, request.headers.get("content-type", ""))

    def _debug_response(self, response: Any, seconds: float, body: bytes | None) -> None:
        if not self.debug:
            return
        self._debug_line(f"< {response.status_code} {response.reason_phrase} ({seconds * 1000:.0f} ms)")
        self._debug_headers("<", response.headers)
        self._debug_body("<", body, response.headers.get("content-type", ""))

