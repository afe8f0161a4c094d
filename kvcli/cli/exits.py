"""The one place that decides kvcli's exit codes (README's table): errors carry a ``kind``, this maps it.

Library errors know nothing of exit codes; the CLI's error boundary (:func:`kvcli.cli.core.report_error`), the fast
entry point and click's own errors all take their numbers from here.
"""

from __future__ import annotations

OK = 0
ERROR = 1  # anything else: transport, server, storage, config, an internal error
USAGE = 2  # bad flags or input; also what a group run without a subcommand exits with
NOT_FOUND = 3
CONFLICT = 4  # conflict, precondition failed, locked version
AUTH = 5
RATE_LIMITED = 6
PARTIAL = 7  # a bulk operation finished with some items failed
DIFFERENT = 8  # `kv-store diff`: the two stores differ (an answer, not an error: no error kind maps to it)
INTERRUPTED = 130  # Ctrl-C / SIGTERM (128 + SIGINT)
CLOSED_PIPE = 141  # the reader of stdout went away, as a shell reports SIGPIPE (128 + 13)

#: error kind (``KvcliError.kind``) -> exit code; a kind not listed exits with ERROR
BY_KIND: dict[str, int] = {
    "usage": USAGE,
    "invalid_input": USAGE,
    "too_large": USAGE,
    "not_found": NOT_FOUND,
    "conflict": CONFLICT,
    "precondition_failed": CONFLICT,
    "version_locked": CONFLICT,
    "auth": AUTH,
    "rate_limited": RATE_LIMITED,
    "partial_failure": PARTIAL,
    "interrupted": INTERRUPTED,
}


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str) and _is_kvcli_error(exc):
        return BY_KIND.get(kind, ERROR)
    return ERROR


def _is_kvcli_error(exc: BaseException) -> bool:
    from kvcli.api.errors import KvcliError

    return isinstance(exc, KvcliError)
