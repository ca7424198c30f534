"""Cron expressions read in a time zone (croniter does the calendar arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


class ScheduleInvalid(ValueError):
    """A cron expression or time zone that cannot be used (mapped to 422)."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ScheduleInvalid."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleInvalid(
            f"unknown time zone {name!r} (an IANA name like Europe/Paris)"
        ) from exc


def check(expression: str, timezone: str) -> None:
    """Raise ScheduleInvalid unless both are usable."""
    zone(timezone)
    if not croniter.is_valid(expression):
        raise ScheduleInvalid(
            f"invalid cron expression {expression!r}: five fields (minute hour day month "
            "weekday), or six with seconds last"
        )


def next_after(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after` (UTC)."""
    local = after.astimezone(zone(timezone))
    nxt: datetime = croniter(expression, local).get_next(datetime)
    return nxt.astimezone(UTC)
