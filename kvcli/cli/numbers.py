"""One way to write counts in human-readable summaries: thousands separated by commas, the noun agreeing.

``count(1, "key")`` is ``"1 key"``, ``count(3000, "key")`` is ``"3,000 keys"``; JSON output keeps plain integers.
"""

from __future__ import annotations


def num(n: int) -> str:
    """A count as the summaries write it: ``3,000``."""
    return f"{n:,}"


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun in the right number: ``1 key``, ``2 keys``, ``1 entry``, ``2 entries``."""
    if n == 1:
        return f"1 {singular}"
    if plural is None:
        plural = singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else singular + "s"
    return f"{n:,} {plural}"
