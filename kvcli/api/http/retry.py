"""When and how long to wait before repeating a failed request.

Exponential backoff with full jitter (a random wait between 0 and ``base * 2**(n-1)``, capped at ``max_delay``) unless
the server says how long to wait (``Retry-After``, or ``Fastly-RateLimit-Reset`` on a 429). Attempts and total time
are bounded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kvcli.api.errors import ConfigError
from kvcli.api.wire import H_RETRY_AFTER, H_RL_RESET
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time

if TYPE_CHECKING:
    import random

#: statuses worth repeating a request for (the server did not, or may not, have done the work)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_RETRY_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0

ENV_MAX_ATTEMPTS = "KVCLI_HTTP_MAX_ATTEMPTS"
ENV_MAX_RETRY_SECONDS = "KVCLI_HTTP_MAX_RETRY_SECONDS"
ENV_TIMEOUT = "KVCLI_HTTP_TIMEOUT"
ENV_BACKOFF_BASE = "KVCLI_HTTP_BACKOFF_BASE"
ENV_DEADLINE = "KVCLI_HTTP_DEADLINE"
ENV_MIN_RATE = "KVCLI_HTTP_MIN_RATE"
ENV_MAX_RESPONSE_BYTES = "KVCLI_HTTP_MAX_RESPONSE_BYTES"

#: the deadline of one attempt is this many read timeouts unless KVCLI_HTTP_DEADLINE says otherwise
DEADLINE_READ_TIMEOUTS = 2
#: bytes per second a large transfer (a value, an upload) must keep up to earn more time than the deadline
DEFAULT_MIN_RATE = 8 * 1024
#: the largest body a JSON answer (a page of a listing, an error) may have: far above any real page
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: what a value's answer may carry beyond the value limit (KVCLI_MAX_VALUE_BYTES) before it is refused
VALUE_SLACK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # including the first
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS  # no new attempt starts later than this after the first
    base_delay: float = 0.5
    max_delay: float = 8.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**(retry_number-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return rng.uniform(0.0, ceiling)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_http_date(raw: str) -> datetime:
    """email.utils.parsedate_to_datetime, without importing the email package (~5 ms) for the one form servers send
    (RFC 9110's IMF-fixdate, ``Sun, 06 Nov 1994 08:49:37 GMT``); any other form goes to email.utils."""
    parts = raw.split(" ")
    if (len(parts) == 6 and parts[5] == "GMT" and len(parts[0]) == 4 and parts[0][:3] in _DAYS and parts[0][3] == ","
            and len(parts[1]) == 2 and parts[1].isdigit() and parts[2] in _MONTHS and len(parts[3]) == 4
            and parts[3].isdigit() and len(parts[4]) == 8 and parts[4][2] == parts[4][5] == ":"
            and (parts[4][:2] + parts[4][3:5] + parts[4][6:]).isdigit()):  # fmt: skip
        try:
            return datetime(int(parts[3]), _MONTHS.index(parts[2]) + 1, int(parts[1]), int(parts[4][:2]),
                            int(parts[4][3:5]), int(parts[4][6:]), tzinfo=UTC)  # fmt: skip
        except ValueError:
            pass  # e.g. 31 Feb, second 60: what email.utils makes of it
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(raw)


def server_delay(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, or None. ``now`` is wall-clock epoch seconds."""
    raw = headers.get(H_RETRY_AFTER)
    if raw:
        raw = raw.strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = parse_http_date(raw)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    if status == 429:
        reset = headers.get(H_RL_RESET)
        if reset:
            try:
                return max(0.0, float(reset.strip()) - now)
            except ValueError:
                return None
    return None


def _env_number(
    env: Mapping[str, str], name: str, kind: type, minimum: float, strict_min: bool, what: str | None = None
) -> float | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum or (strict_min and value == minimum):
        bound = f"greater than {minimum:g}" if strict_min else f"at least {minimum:g}"
        what = what or ("a whole number" if kind is int else "a number of seconds")
        raise ConfigError(f"invalid {name}={raw!r}", f"set it to {what} {bound}, or unset it")
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, float | int | None]:
    """The ``KVCLI_HTTP_*`` overrides that are set (ConfigError naming the variable when one is malformed)."""
    env = os.environ if env is None else env
    return {
        "max_attempts": _env_number(env, ENV_MAX_ATTEMPTS, int, 1, strict_min=False),
        "max_retry_seconds": _env_number(env, ENV_MAX_RETRY_SECONDS, float, 0, strict_min=False),
        "timeout": _env_number(env, ENV_TIMEOUT, float, 0, strict_min=True),
        "backoff_base": _env_number(env, ENV_BACKOFF_BASE, float, 0, strict_min=False),
        "deadline": _env_number(env, ENV_DEADLINE, float, 0, strict_min=True),
        "min_rate": _env_number(env, ENV_MIN_RATE, float, 0, strict_min=True, what="a number of bytes per second"),
        "max_response_bytes": _env_number(
            env, ENV_MAX_RESPONSE_BYTES, int, 0, strict_min=True, what="a number of bytes"
        ),
    }
