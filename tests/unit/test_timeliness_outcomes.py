"""How a referral's outcome stands: the first one closes it for good, except a recall, after
which the same referral made to another recipient (a corrected area) is open for that one."""
from datetime import timedelta

import pytest

from referral_hub.core.timeliness import is_open, is_overdue
from tests.unit.test_timeliness import DUE, REPORTED, life

LATER = [REPORTED + timedelta(hours=hours) for hours in range(1, 6)]


def test_a_status_recorded_before_outcomes_existed_is_closed_by_its_first_contact():
    assert not is_open({"pathway": "MARAC", "due_at": DUE.isoformat(), "contacted_at": LATER[0].isoformat()})


@pytest.mark.parametrize("closing", ["declined", "unable_to_contact", "safe_contact_made"])
def test_a_referral_recalled_after_its_outcome_and_made_to_another_recipient_is_open_for_it(closing):
    status, _ = life(("referred", REPORTED), (closing, LATER[0]), ("recalled", LATER[1]),
                     ("referred", LATER[2]))
    assert is_open(status) and is_overdue(status, DUE + timedelta(seconds=1))


def test_a_late_report_on_a_recalled_referral_does_not_keep_it_closed_when_made_again():
    status, _ = life(("referred", REPORTED), ("recalled", LATER[0]), ("declined", LATER[1]),
                     ("referred", LATER[2]))
    assert is_open(status)


@pytest.mark.parametrize("closing", ["declined", "unable_to_contact", "safe_contact_made"])
def test_a_referred_event_read_again_after_the_outcome_does_not_open_it(closing):
    """At-least-once: the router's `referred` can be read again after a restart."""
    status, _ = life(("referred", REPORTED), (closing, LATER[0]), ("unable_to_contact", LATER[1]),
                     ("referred", REPORTED))
    assert not is_open(status) and not is_overdue(status, DUE + timedelta(days=3))
