"""Time as the contract writes it: RFC 3339 with an offset, calendar dates in Asia/Shanghai."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> tzinfo:
    """The named zone; without a tz database, China's fixed UTC+8 (no DST since 1991)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone(timedelta(hours=8), name)


SHANGHAI = zone("Asia/Shanghai")


def rfc3339(epoch: float | None = None, tz: tzinfo = SHANGHAI) -> str:
    """An RFC 3339 timestamp with the zone's offset, to the millisecond."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz)
    return moment.isoformat(timespec="milliseconds")


def basic_offset_timestamp(epoch: float | None = None, tz: tzinfo = SHANGHAI) -> str:
    """The same instant with an ISO 8601 basic offset ("+0800"), which is not RFC 3339: the mistake
    the ``bad-request-format`` fault makes. A lenient regulator still understands it."""
    text = rfc3339(epoch, tz)
    return text[:-3] + text[-2:]


def parse_rfc3339(value: object) -> datetime | None:
    """An aware datetime, or None unless the value is RFC 3339 with an explicit offset."""
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt":
        return None
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def skew_seconds(value: object, now: float | None = None) -> float | None:
    """How far a timestamp is from the local clock, or None when it is not a valid timestamp."""
    parsed = parse_rfc3339(value)
    if parsed is None:
        return None
    return abs((time.time() if now is None else now) - parsed.timestamp())


def today(tz: tzinfo = SHANGHAI, epoch: float | None = None) -> date:
    """Today's calendar date in the zone (expiry dates are Asia/Shanghai dates)."""
    return datetime.fromtimestamp(time.time() if epoch is None else epoch, tz).date()


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None

