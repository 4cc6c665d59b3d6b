"""Waits between attempts (profile.md Clarifications: Retries; RES-04)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from reference_platform.backoff import MAX_RETRY_AFTER_SECONDS, next_start, parse_retry_after, wait_before


@pytest.mark.parametrize("cap", [1.0, 10 / 3, 0.1, 20.0])
def test_waits_grow_and_never_exceed_the_cap(cap: float) -> None:
    rng = random.Random(7)
    waits = [wait_before(n, cap, rng=rng) for n in range(1, 40)]
    assert all(0 < w <= cap for w in waits)
    growing = [w for w in waits if w < 0.8 * cap]
    assert growing == sorted(growing), "waits below the cap grow"
    assert max(waits) > 0.75 * cap, "the cap is reached"


def test_first_wait_is_short() -> None:
    assert wait_before(1, 1.0, rng=random.Random(1)) <= 0.25
    assert wait_before(0, 1.0) == 0.0


def test_next_attempt_counts_from_the_start_of_the_last() -> None:
    assert next_start(started=10.0, finished=10.1, wait=0.5) == 10.5
    # A timeout longer than the wait: the next attempt starts right away.
    assert next_start(started=10.0, finished=13.0, wait=1.0) == 13.0


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("2", 0.0) == 2.0
    assert parse_retry_after(" 0 ", 0.0) == 0.0
    now = datetime(2025, 12, 1, 8, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 12, 1, 8, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(30.0)


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_unusable_retry_after(value: str | None) -> None:
    assert parse_retry_after(value, 0.0) is None


def test_retry_after_is_bounded() -> None:
    assert parse_retry_after("-5", 0.0) == 0.0
    assert parse_retry_after("99999999", 0.0) == MAX_RETRY_AFTER_SECONDS
