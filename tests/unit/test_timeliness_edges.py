"""A referral's status at its edges: contact exactly at the deadline, each event counted once,
and the status the router stores holding what the overdue reports need."""
from datetime import UTC, datetime, timedelta

from referral_hub.adapters.records import contact_event
from referral_hub.core.timeliness import record_event

REPORTED = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
DUE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
REFERRAL = {"referral_id": "ref-1", "pathway": "MARAC", "area": "E08000013",
            "recipient": "st-helens-marac", "reported_at": REPORTED, "due_at": DUE}


def life(*events):
    status, observed = None, []
    for kind, at in events:
        status, observations = record_event(status, contact_event(REFERRAL, kind, at))
        observed += observations
    return status, observed


def test_the_status_holds_the_referral_and_the_first_of_each_event():
    status, _ = life(("delivered", REPORTED + timedelta(minutes=1)), ("delivered", REPORTED + timedelta(hours=1)),
                     ("contact_attempted", DUE), ("contact_attempted", DUE + timedelta(hours=1)))
    assert status == {"referral_id": "ref-1", "pathway": "MARAC", "area": "E08000013",
                      "recipient": "st-helens-marac", "reported_at": "2026-11-20T22:14:00+00:00",
                      "due_at": "2026-11-23T09:00:00+00:00", "delivered_at": "2026-11-20T22:15:00+00:00",
                      "attempted_at": "2026-11-23T09:00:00+00:00"}


def test_only_the_first_attempt_is_measured():
    _, observed = life(("contact_attempted", DUE - timedelta(hours=1)), ("contact_attempted", DUE + timedelta(hours=1)))
    assert [(o.kind, o.within_deadline) for o in observed] == [("first_attempt", True)]


def test_an_attempt_or_a_contact_at_the_deadline_itself_is_in_time():
    _, observed = life(("contact_attempted", DUE), ("safe_contact_made", DUE))
    assert [(o.kind, o.within_deadline) for o in observed] == [("first_attempt", True), ("first_contact", True)]
    _, late = life(("contact_attempted", DUE + timedelta(seconds=1)), ("safe_contact_made", DUE + timedelta(seconds=1)))
    assert [o.within_deadline for o in late] == [False, False]
