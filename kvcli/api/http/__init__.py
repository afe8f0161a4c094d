"""The ``http`` adapter: kvcli's client for Fastly's API (``api.fastly.com``, or ``kvcli local serve``).

``client`` holds the generic part (auth, URLs, retries, timeouts, debug output, error bodies), ``adapter`` the KV
endpoints. Behaviour is documented in docs/http.md.
"""

from __future__ import annotations

import sys

# httpx's __init__ imports its optional command-line client (httpx._main), which loads click, rich and pygments when
# they are installed: tens of milliseconds on every HTTP command, for code kvcli never runs. A None entry in
# sys.modules makes that import fail, and httpx falls back to a stub (only `httpx.main` is affected).
sys.modules.setdefault("httpx._main", None)

from kvcli.api.http.adapter import HttpAdapter  # noqa: E402
from kvcli.api.http.client import ErrorContext, FastlyHttp  # noqa: E402

__all__ = ["ErrorContext", "FastlyHttp", "HttpAdapter"]
