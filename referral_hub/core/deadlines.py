"""When a recipient's first contact is due, in UK local time.

Working days are Monday to Friday less England and Wales bank holidays (from the
maintained `holidays` calendar, substitute days included). Times are built on the
local calendar and converted to UTC afterwards, so deadlines stay right across the
change to and from British Summer Time.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Sequence

import holidays

from referral_hub.config import Deadline, Term
from referral_hub.core.incident import UK


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


def is_school_day(day: date, terms: Sequence[Term] = ()) -> bool:
    """A working day, in term when the area gives term dates. Before the first term and
    past the last term an area has published, every working day counts (pathways.md):
    better a notification too early than one held for months."""
    if not is_working_day(day):
        return False
    if not terms or day < min(term.start for term in terms) or day > max(term.end for term in terms):
        return True
    return any(term.start <= day <= term.end for term in terms)


def next_school_day_start(reported_at: datetime, starts: time, terms: Sequence[Term] = ()) -> datetime:
    """The first school-day start strictly after the report (before school on the day counts)."""
    day = reported_at.astimezone(UK).date()
    while not (is_school_day(day, terms) and _at(day, starts) > reported_at):
        day += timedelta(days=1)
    return _at(day, starts)


def describe(deadline: Deadline) -> str:
    """The deadline rule in plain words."""
    if deadline.working_days:
        return f"{deadline.working_days} working day{'s' * (deadline.working_days > 1)}"
    if deadline.hours:
        return f"{deadline.hours} hours"
    if deadline.days:
        return f"{deadline.days} days"
    return "the start of the next school day"


def due_at(deadline: Deadline, reported_at: datetime, working_day_starts: time,
           school_day_starts: time, terms: Sequence[Term] = ()) -> datetime:
    if deadline.working_days:
        return nth_working_day_start(reported_at, deadline.working_days, working_day_starts)
    if deadline.hours:
        return (reported_at + timedelta(hours=deadline.hours)).astimezone(UTC)
    if deadline.days:
        local = reported_at.astimezone(UK)
        return datetime.combine(local.date() + timedelta(days=deadline.days), local.time(),
                                tzinfo=UK).astimezone(UTC)
    return next_school_day_start(reported_at, school_day_starts, terms)
