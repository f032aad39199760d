"""Each kind of deadline at its edges: the minute before school, the last day of a term, the
day past the last published term, a deadline in hours or days across a clock change."""
from datetime import date, datetime, time

import pytest

from referral_hub.config import Deadline, Term
from referral_hub.core.deadlines import describe, due_at, is_school_day, is_working_day, next_school_day_start

TERMS = (Term(start="2026-09-03", end="2026-10-23"), Term(start="2026-11-02", end="2026-12-18"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("day, working", [
    ("2026-11-20", True),    # Friday
    ("2026-11-21", False),   # Saturday
    ("2026-11-22", False),   # Sunday
    ("2026-12-28", False),   # Boxing Day, observed on the Monday
    ("2026-08-31", False),   # the summer bank holiday
    ("2026-12-29", True),
])
def test_working_days_are_weekdays_less_bank_holidays(day, working):
    assert is_working_day(date.fromisoformat(day)) == working


@pytest.mark.parametrize("day, school", [
    ("2026-10-23", True),    # the last day of the autumn half term
    ("2026-09-03", True),    # the first day of term
    ("2026-09-02", True),    # the day before: before the first published term, every working day
    ("2026-10-26", False),   # half term
    ("2026-10-30", False),   # the last weekday of half term
    ("2026-11-02", True),    # the first day of the next term
    ("2026-12-18", True),    # the last day of the last published term
    ("2026-12-21", True),    # past it: every working day
    ("2026-12-19", False),   # ...but never a Saturday
])
def test_school_days_follow_the_terms(day, school):
    assert is_school_day(date.fromisoformat(day), TERMS) == school


def test_without_terms_every_working_day_is_a_school_day():
    assert is_school_day(date(2026, 8, 3)) and not is_school_day(date(2026, 8, 1))


@pytest.mark.parametrize("reported, due", [
    ("2026-10-22T20:00:00Z", "2026-10-23T08:00:00Z"),  # Thursday night: Friday, the last day of term
    ("2026-10-23T07:59:00Z", "2026-10-23T08:00:00Z"),  # a minute before school on that day: that morning
    ("2026-10-23T08:00:00Z", "2026-11-02T09:00:00Z"),  # at the bell: after half term
])
def test_encompass_on_the_last_day_of_a_term(reported, due):
    assert next_school_day_start(utc(reported), time(9), TERMS) == utc(due)


@pytest.mark.parametrize("deadline, words", [
    (Deadline(working_days=1), "1 working day"),
    (Deadline(working_days=2), "2 working days"),
    (Deadline(hours=24), "24 hours"),
    (Deadline(days=28), "28 days"),
    (Deadline(next_school_day=True), "the start of the next school day"),
])
def test_each_deadline_rule_in_words(deadline, words):
    assert describe(deadline) == words


@pytest.mark.parametrize("deadline, reported, due", [
    (Deadline(working_days=2), "2026-11-20T22:14:00Z", "2026-11-24T08:30:00Z"),   # working days start 08:30
    (Deadline(hours=24), "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),         # 24 real hours over the change
    (Deadline(days=1), "2026-03-28T12:00:00Z", "2026-03-29T11:00:00Z"),           # noon GMT to noon BST
    (Deadline(days=28), "2026-10-20T22:14:00Z", "2026-11-17T23:14:00Z"),          # 23:14 BST to 23:14 GMT
    (Deadline(next_school_day=True), "2026-11-20T22:14:00Z", "2026-11-23T09:15:00Z"),  # school starts 09:15
])
def test_each_kind_of_deadline(deadline, reported, due):
    assert due_at(deadline, utc(reported), time(8, 30), time(9, 15), TERMS) == utc(due)


def test_a_deadline_is_given_in_utc():
    due = due_at(Deadline(days=1), utc("2026-06-01T12:00:00Z"), time(9), time(9))
    assert due.utcoffset().total_seconds() == 0 and due == utc("2026-06-02T12:00:00Z")
