"""When a recipient's first contact is due, in UK local time.

Working days are Monday to Friday less England and Wales bank holidays (from the
maintained `holidays` calendar, substitute days included). Times are built on the
local calendar and converted to UTC afterwards, so deadlines stay right across the
change to and from British Summer Time.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from .config import Deadline
from .incident import UK


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=UK).astimezone(UTC)


def nth_working_day_start(reported_at: datetime, n: int, starts: time) -> datetime:
    """Start of the n-th working day after the UK calendar day of the report."""
    day = reported_at.astimezone(UK).date()
    while n:
        day += timedelta(days=1)
        n -= is_working_day(day)
    return _at(day, starts)


def next_school_day_start(reported_at: datetime, starts: time) -> datetime:
    """The first school-day start strictly after the report (before school on the day counts)."""
    day = reported_at.astimezone(UK).date()
    while not (is_working_day(day) and _at(day, starts) > reported_at):
        day += timedelta(days=1)
    return _at(day, starts)


def due_at(deadline: Deadline, reported_at: datetime, working_day_starts: time,
           school_day_starts: time) -> datetime:
    if deadline.working_days:
        return nth_working_day_start(reported_at, deadline.working_days, working_day_starts)
    if deadline.hours:
        return (reported_at + timedelta(hours=deadline.hours)).astimezone(UTC)
    if deadline.days:
        local = reported_at.astimezone(UK)
        return datetime.combine(local.date() + timedelta(days=deadline.days), local.time(),
                                tzinfo=UK).astimezone(UTC)
    return next_school_day_start(reported_at, school_day_starts)
