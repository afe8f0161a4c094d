"""The ``http`` adapter: kvcli's client for Fastly's API (``api.fastly.com``, or ``kvcli local serve``).

``client`` holds the generic part (auth, URLs, retries, timeouts, debug output, error bodies), ``adapter`` the KV
endpoints; ``session`` is the seam to the code that moves bytes (``httpx_session``, or ``light`` for the click-free
fast path). Behaviour is documented in docs/http.md.
"""

from __future__ import annotations

# The console script (kvcli.entry.main) keeps httpx from importing its optional command-line client; a program using
# kvcli as a library keeps its sys.modules as it is.
from kvcli.api.http.adapter import HttpAdapter
from kvcli.api.http.client import FastlyHttp
from kvcli.api.http.failures import ErrorContext

__all__ = ["ErrorContext", "FastlyHttp", "HttpAdapter"]
