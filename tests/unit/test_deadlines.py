"""Deadlines in UK local time: weekends, bank holidays and the clock changes."""
from datetime import datetime, time

import pytest

from referral_hub.config import Term
from referral_hub.core.deadlines import next_school_day_start, nth_working_day_start


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("reported, due", [
    ("2026-11-20T22:14:00Z", "2026-11-23T09:00:00Z"),  # Friday night: Monday's start (spec example)
    ("2026-11-23T07:30:00Z", "2026-11-23T09:00:00Z"),  # before school on a school day: that morning
    ("2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"),  # at the bell: the next day
    ("2026-12-24T10:00:00Z", "2026-12-29T09:00:00Z"),  # Christmas, Boxing Day (observed Monday 28th)
    ("2026-04-02T18:00:00Z", "2026-04-07T08:00:00Z"),  # Good Friday, Easter Monday; 09:00 BST
    ("2026-10-23T20:00:00Z", "2026-10-26T09:00:00Z"),  # clocks go back on Sunday 25th: GMT again
    ("2026-03-27T20:00:00Z", "2026-03-30T08:00:00Z"),  # clocks go forward on Sunday 29th: BST
])
def test_encompass_is_due_at_the_start_of_the_next_school_day(reported, due):
    assert next_school_day_start(utc(reported), time(9)) == utc(due)


@pytest.mark.parametrize("reported, days, due", [
    ("2026-11-20T22:14:00Z", 1, "2026-11-23T09:00:00Z"),  # spec example: MARAC by Monday
    ("2026-11-23T07:30:00Z", 1, "2026-11-24T09:00:00Z"),  # a working day is never the same day
    ("2026-11-23T12:00:00Z", 2, "2026-11-25T09:00:00Z"),
    ("2026-12-23T12:00:00Z", 2, "2026-12-29T09:00:00Z"),  # over Christmas
])
def test_working_days_count_from_the_day_of_the_report(reported, days, due):
    assert nth_working_day_start(utc(reported), days, time(9)) == utc(due)


TERMS = (Term(start="2026-09-03", end="2026-10-23"), Term(start="2026-11-02", end="2026-12-18"))


@pytest.mark.parametrize("reported, due", [
    ("2026-10-23T20:00:00Z", "2026-11-02T09:00:00Z"),  # half term: back on 2 November
    ("2026-12-18T20:00:00Z", "2026-12-21T09:00:00Z"),  # past the last term given: working days
    ("2026-11-20T22:14:00Z", "2026-11-23T09:00:00Z"),  # in term: as without terms
    ("2026-05-15T20:00:00Z", "2026-05-18T08:00:00Z"),  # before the first term given: working days
    ("2026-09-02T20:00:00Z", "2026-09-03T08:00:00Z"),  # the eve of the first term
])
def test_an_areas_term_dates_make_holidays_no_school_days(reported, due):
    assert next_school_day_start(utc(reported), time(9), TERMS) == utc(due)
