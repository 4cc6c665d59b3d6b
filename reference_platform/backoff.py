"""Waits between attempts (profile.md Clarifications: Retries; RES-04).

Waits grow (doubling) but never exceed ``listingDecisionSeconds / 3``, so a pending listing is tried
at least three times per decision period and is decided within that period once the regulator is
back. ``Retry-After`` from the regulator is always honoured, even when longer.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

# The first wait; later ones double. Short, because most outages in practice are single blips.
FIRST_WAIT_SECONDS = 0.25
# A hostile or broken Retry-After must not park the platform for days; an hour is already generous.
MAX_RETRY_AFTER_SECONDS = 3600.0


def wait_before(attempt: int, cap: float, *, rng: random.Random | None = None) -> float:
    """The wait after the ``attempt``-th failed attempt (1-based): doubling, jittered, at most ``cap``.

    The jitter takes off up to a fifth, so that listings failing together do not retry in lock-step,
    while each wait stays above the previous one until the cap.
    """
    if attempt < 1:
        return 0.0
    first = min(FIRST_WAIT_SECONDS, cap)
    base = min(cap, first * 2 ** min(attempt - 1, 30))
    return base * (1.0 - 0.2 * (rng or random).random())


def next_start(started: float, finished: float, wait: float) -> float:
    """When the next attempt may start: ``wait`` after the last one began, never before it ended.

    Counting from the start keeps a slow failure (a timeout) from stretching the period between
    attempts beyond the timeout itself.
    """
    return max(finished, started + wait)


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now_epoch
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
