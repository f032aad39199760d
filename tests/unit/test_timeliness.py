"""A referral is open until first contact; past its deadline it is overdue, once, then daily."""
from datetime import UTC, datetime, timedelta

from referral_hub.adapters.records import contact_event
from referral_hub.core.timeliness import (after_notice, is_open, is_overdue, is_undelivered_due_soon,
                                     overdue_notice, record_event)

REPORTED = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
DUE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def referral(pathway="MARAC"):
    return {"referral_id": "ref-1", "pathway": pathway, "area": "E08000013",
            "recipient": "st-helens-marac", "reported_at": REPORTED, "due_at": DUE}


def life(*events, pathway="MARAC"):
    status, observed = None, []
    for kind, at in events:
        status, observations = record_event(status, contact_event(referral(pathway), kind, at))
        observed += observations
    return status, observed


def test_an_attempt_is_not_contact():
    status, observed = life(("referred", REPORTED), ("contact_attempted", REPORTED + timedelta(hours=2)))
    assert is_open(status)
    assert [(o.kind, o.seconds) for o in observed] == [("first_attempt", 7200.0)]


def test_the_first_safe_contact_closes_the_referral_and_is_measured_once():
    status, observed = life(("referred", REPORTED), ("safe_contact_made", REPORTED + timedelta(hours=6)),
                            ("safe_contact_made", REPORTED + timedelta(hours=9)))
    assert not is_open(status)
    assert [(o.kind, o.seconds, o.within_deadline) for o in observed] == [("first_contact", 21600.0, True)]


def test_for_encompass_the_acknowledgement_is_the_contact():
    status, observed = life(("delivered", REPORTED), ("safe_contact_made", DUE), pathway="ENCOMPASS")
    assert is_open(status) and observed == []
    status, observed = life(("acknowledged", DUE + timedelta(minutes=5)), pathway="ENCOMPASS")
    assert not is_open(status) and observed[0].within_deadline is False


def test_overdue_once_when_the_deadline_passes_then_a_reminder_each_day():
    status, _ = life(("referred", REPORTED), ("delivered", REPORTED))
    assert overdue_notice(status, DUE) is None  # due at 09:00, not past it
    late = DUE + timedelta(seconds=1)
    assert is_overdue(status, late) and overdue_notice(status, late) == "overdue"
    status = after_notice(status, late)
    assert overdue_notice(status, late + timedelta(hours=23)) is None
    assert overdue_notice(status, late + timedelta(days=1)) == "reminder"


def test_a_contact_ends_the_reminders():
    status, _ = life(("referred", REPORTED), ("safe_contact_made", DUE + timedelta(hours=1)))
    assert overdue_notice(status, DUE + timedelta(days=3)) is None


def test_undelivered_referrals_are_flagged_30_minutes_before_their_deadline():
    status, _ = life(("referred", REPORTED), pathway="ENCOMPASS")
    assert not is_undelivered_due_soon(status, DUE - timedelta(minutes=31))
    assert is_undelivered_due_soon(status, DUE - timedelta(minutes=30))
    delivered, _ = life(("referred", REPORTED), ("delivered", DUE - timedelta(minutes=40)), pathway="ENCOMPASS")
    assert not is_undelivered_due_soon(delivered, DUE)


import pytest  # noqa: E402


@pytest.mark.parametrize("outcome", ["declined", "unable_to_contact", "recalled"])
def test_an_outcome_closes_the_referral_and_it_is_never_reported_overdue(outcome):
    status, _ = life(("referred", REPORTED), (outcome, REPORTED + timedelta(hours=3)))
    assert not is_open(status) and status["outcome"] == outcome
    later = DUE + timedelta(days=5)
    assert not is_overdue(status, later) and overdue_notice(status, later) is None


def test_an_attempt_after_a_decline_does_not_reopen_it():
    status, _ = life(("referred", REPORTED), ("declined", REPORTED + timedelta(hours=3)),
                     ("contact_attempted", REPORTED + timedelta(hours=4)))
    assert status["outcome"] == "declined" and not is_open(status)


def test_a_referral_recalled_from_one_recipient_and_made_to_another_is_open_again():
    status, _ = life(("referred", REPORTED), ("recalled", REPORTED + timedelta(hours=1)),
                     ("referred", REPORTED + timedelta(hours=1)))
    assert is_open(status) and "outcome" not in status
