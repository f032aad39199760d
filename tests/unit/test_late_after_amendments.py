"""Late notifications (pathways.md, MARAC criteria) brought about by an amendment or a
correction of an earlier incident, not only by a first sighting: a later incident that now
meets a criterion gets its MARAC and IDVA referrals with late_notification; a withdrawal
or a correction that takes an incident out of a history leaves other incidents' referrals
standing."""
import json

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.config import load_config
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import incident

CONFIG = load_config(REPO_ROOT / "config")
MEDIUM = {"tool": "DASH", "dash_yes_count": 11, "officer_grade": "medium"}
HIGH = {"tool": "DASH", "dash_yes_count": 16}
SENT = "2026-11-21T09:00:00Z"  # a Saturday: late referrals are due Monday 09:00
VICTIM = {"risk": MEDIUM, "children": [], "occurred_at": None}


def medium(number: int, reported: str, **changes) -> dict:
    return incident(incident_id=f"MP-L-{number}", reported_at=reported, **VICTIM) | changes


def later_incident_actions(*notifications) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(action, incident, pathway, reasons) the last notification brings about."""
    router = OfflineRouter(CONFIG)
    for notification in notifications[:-1]:
        router.route(parse_incident(json.dumps(notification), CONFIG))
    return [(d.action, d.incident_id, d.pathway, d.reasons)
            for d in router.route(parse_incident(json.dumps(notifications[-1]), CONFIG))]


EARLY, SECOND, THIRD = ("2024-12-01T10:00:00Z", "2026-01-10T10:00:00Z", "2026-02-10T10:00:00Z")
LATE_ESCALATION = [("refer", "MP-L-3", "MARAC", ("potential_escalation", "late_notification")),
                   ("refer", "MP-L-3", "IDVA", ("potential_escalation", "late_notification")),
                   ("amend", "MP-L-3", "COMMUNITY_ADVOCACY", ("no_longer_met",))]


@pytest.mark.parametrize("correction, effects", [
    # reported_at corrected into the 365 days before 3: 3 is the victim's third
    ({"reported_at": "2025-12-01T10:00:00Z"}, LATE_ESCALATION),
    # corrected, but still more than 365 days before 3: nothing for 3
    ({"reported_at": "2025-01-01T10:00:00Z"}, []),
    # re-graded high: 1 goes to MARAC, which is more than 365 days before 3: nothing for 3
    ({"risk": HIGH}, []),
])
def test_an_amendment_of_an_earlier_incident_can_complete_an_escalation(correction, effects):
    actions = later_incident_actions(medium(1, EARLY), medium(2, SECOND), medium(3, THIRD),
                                     medium(1, EARLY, version=2, sent_at=SENT, **correction))
    assert [a for a in actions if a[1] == "MP-L-3"] == effects


def test_a_regrade_to_high_makes_a_later_incident_repeat_marac():
    actions = later_incident_actions(medium(1, SECOND), medium(3, THIRD),
                                     medium(1, SECOND, version=2, sent_at=SENT, risk=HIGH))
    assert [a for a in actions if a[1] == "MP-L-3"] == [
        ("refer", "MP-L-3", "MARAC", ("repeat_marac", "late_notification")),
        ("refer", "MP-L-3", "IDVA", ("repeat_marac", "late_notification")),
        ("amend", "MP-L-3", "COMMUNITY_ADVOCACY", ("no_longer_met",))]


def test_the_late_referrals_are_due_from_the_amendments_sending():
    router = OfflineRouter(CONFIG)
    for notification in (medium(1, EARLY), medium(2, SECOND), medium(3, THIRD),
                         medium(1, EARLY, version=2, sent_at=SENT, reported_at="2025-12-01T10:00:00Z")):
        actions = router.route(parse_incident(json.dumps(notification), CONFIG))
    assert {d.due_at.isoformat() for d in actions if d.pathway in ("MARAC", "IDVA")} == {"2026-11-23T09:00:00+00:00"}


def test_an_incident_moved_to_another_victim_can_complete_their_escalation():
    other = {"victim": incident()["victim"] | {"person_id": "MP-P-99999"}}
    actions = later_incident_actions(medium(1, "2025-12-01T10:00:00Z"),
                                     medium(2, SECOND, **other), medium(3, THIRD, **other),
                                     medium(1, "2025-12-01T10:00:00Z", version=2, sent_at=SENT, **other))
    assert [a for a in actions if a[1] == "MP-L-3"] == LATE_ESCALATION


@pytest.mark.parametrize("taken_out", [
    {"status": "withdrawn", "withdrawal_reason": "wrong_person"},
    {"victim": incident()["victim"] | {"person_id": "MP-P-99999"}},
])
def test_taking_an_incident_out_of_history_leaves_other_incidents_referrals_standing(taken_out):
    """1, 2, 3 make 3 the third in 365 days (MARAC); 1 withdrawn or moved recalls only 1's."""
    first = medium(1, "2025-12-01T10:00:00Z")
    actions = later_incident_actions(first, medium(2, SECOND), medium(3, THIRD),
                                     first | {"version": 2, "sent_at": SENT} | taken_out)
    assert {a[1] for a in actions} == {"MP-L-1"}  # nothing for 2 or 3: 3's MARAC referral stands
    assert [a[:3] for a in actions if a[0] == "recall"] == [("recall", "MP-L-1", "COMMUNITY_ADVOCACY")]
