"""Versions, withdrawals and late notifications at their edges (incident-notification.md,
Amendments and withdrawals; pathways.md, MARAC criteria): what each recipient is sent, with
which reasons and by when, when a version or a late notification follows another."""
import json
from datetime import UTC, datetime

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.config import load_config
from referral_hub.core.history import VictimHistory
from referral_hub.core.revisions import revise_for_victim
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import child, incident

CONFIG = load_config(REPO_ROOT / "config")
MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
HIGH = {"tool": "DASH", "dash_yes_count": 15}
NO_CHILDREN = {"children": []}


def routed(*notifications) -> list[list]:
    """The actions (decisions) of each notification, routed in order by one router."""
    router = OfflineRouter(CONFIG)
    return [router.route(parse_incident(json.dumps(n), CONFIG)) for n in notifications]


def route(*notifications) -> list[list[tuple[str, str, str, tuple[str, ...]]]]:
    """(incident, action, pathway, reasons) per notification."""
    return [[(d.incident_id, d.action, d.pathway, d.reasons) for d in actions] for actions in routed(*notifications)]


def dated(number: int, day: str, **changes) -> dict:
    return incident(**{"incident_id": f"MP-{number}", "reported_at": f"{day}T10:00:00Z",
                       "occurred_at": None, "risk": MEDIUM, **NO_CHILDREN} | changes)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- stale versions -------------------------------------------------------------------------

@pytest.mark.parametrize("version", [1, 2])
def test_a_stale_version_does_nothing_and_leaves_the_history_as_it_was(version):
    """The routers skip a stale revision; it carries no action and the history unchanged."""
    later = parse_incident(json.dumps(incident(version=2)), CONFIG)
    history = revise_for_victim(later, VictimHistory(), CONFIG).history
    revision = revise_for_victim(parse_incident(json.dumps(incident(version=version, risk=MEDIUM)), CONFIG),
                                 history, CONFIG)
    assert (revision.stale, revision.actions, revision.history) == (True, [], history)


# --- amendments -----------------------------------------------------------------------------

def test_a_corrected_area_inside_the_partnership_moves_each_referral_with_its_id_and_due():
    first, second = routed(incident(**NO_CHILDREN), incident(local_authority="E08000011", version=2, **NO_CHILDREN))
    assert [(d.action, d.pathway, d.recipient, d.reasons) for d in second] == [
        ("recall", "MARAC", "st-helens-marac", ("recipient_changed",)),
        ("refer", "MARAC", "knowsley-marac", ("visible_high_risk",)),
        ("recall", "IDVA", "st-helens-idva", ("recipient_changed",)),
        ("refer", "IDVA", "knowsley-idva", ("visible_high_risk",))]
    assert [(d.referral_id, d.due_at) for d in second] == [
        (d.referral_id, d.due_at) for d in first for _ in (1, 2)]
    assert second[0].explanation == ("recipient_changed: the recipient is now knowsley-marac",)


def test_an_area_corrected_out_of_the_partnership_is_not_recalled_again_by_the_next_version():
    _, second, third = routed(incident(**NO_CHILDREN),
                              *(incident(local_authority="E08000012", version=v, **NO_CHILDREN) for v in (2, 3)))
    recalls = [d for d in second if d.action == "recall"]
    assert [(d.pathway, d.reasons) for d in recalls] == [("MARAC", ("recipient_changed",)),
                                                          ("IDVA", ("recipient_changed",))]
    assert recalls[0].explanation == ("recipient_changed: version 2 calls for another pathway in its place",)
    assert third == []


def test_an_area_corrected_back_into_the_partnership_recalls_the_out_of_area_referral():
    """A change of recipient, not of the facts: the out-of-area contact's referral is recalled
    (it does not stand), and community advocacy is made, no MARAC referral standing."""
    *_, third = route(incident(**NO_CHILDREN), incident(local_authority="E08000012", version=2, **NO_CHILDREN),
                      incident(risk=MEDIUM, version=3, **NO_CHILDREN))
    assert [entry[1:] for entry in third] == [("refer", "COMMUNITY_ADVOCACY", ("medium_risk",)),
                                              ("recall", "OUT_OF_AREA", ("recipient_changed",))]


def test_a_victim_found_to_live_inside_the_partnership_is_referred_there_and_recalled_from_outside():
    _, second = route(incident(local_authority="E08000012", **NO_CHILDREN), incident(version=2, **NO_CHILDREN))
    assert [entry[1:] for entry in second] == [("refer", "MARAC", ("visible_high_risk",)),
                                               ("refer", "IDVA", ("visible_high_risk",)),
                                               ("recall", "OUT_OF_AREA", ("recipient_changed",))]


def test_a_standing_referral_after_a_recalled_one_is_recalled_when_the_area_moves_out():
    """Version 2 drops the child (the school's notice recalled, MASH IDVA standing); version 3
    puts the victim outside the partnership: every referral still live is recalled."""
    *_, third = route(incident(), incident(version=2, **NO_CHILDREN),
                      incident(local_authority="E08000012", version=3, **NO_CHILDREN))
    assert [entry[1:] for entry in third] == [
        ("refer", "OUT_OF_AREA", ("outside_partnership", "visible_high_risk")),
        ("recall", "MARAC", ("recipient_changed",)), ("recall", "IDVA", ("recipient_changed",)),
        ("recall", "MASH_IDVA", ("recipient_changed",))]


def test_a_referral_no_longer_called_for_stands_once_and_keeps_out_community_advocacy():
    _, second, third = routed(incident(**NO_CHILDREN), incident(risk=MEDIUM, version=2, **NO_CHILDREN),
                              incident(risk=MEDIUM, version=3, **NO_CHILDREN))
    assert [(d.action, d.pathway, d.reasons) for d in second] == [
        ("amend", "MARAC", ("no_longer_met",)), ("amend", "IDVA", ("no_longer_met",))]
    assert second[0].explanation == (
        "no_longer_met: on version 2 this referral would not be made; it stands, and the recipient decides",)
    assert third == []


def test_support_newly_called_for_is_made_while_a_referral_other_than_marac_stands():
    """Adult safeguarding stands when the flag is dropped; only a standing MARAC referral
    keeps community advocacy out."""
    _, second = route(incident(risk=MEDIUM, consent_to_share=False, flags=["adult_at_risk"], **NO_CHILDREN),
                      incident(risk=MEDIUM, flags=[], version=2, **NO_CHILDREN))
    assert [entry[1:] for entry in second] == [("refer", "COMMUNITY_ADVOCACY", ("medium_risk",)),
                                               ("amend", "ADULT_SAFEGUARDING", ("no_longer_met",))]


def test_a_corrected_date_of_birth_is_an_amendment_for_the_school():
    _, second = routed(incident(children=[child()]), incident(children=[child(born="2016-01-01")], version=2))
    [school] = [d for d in second if d.pathway == "ENCOMPASS"]
    assert (school.action, school.explanation[0]) == (
        "amend", "amended by version 2: changed since the record sent: child")


def test_the_same_perpetrator_in_a_new_version_keeps_his_matac_referral():
    serial = {"perpetrator__person_id": "MP-P-SERIAL", "local_authority": "E08000011", **NO_CHILDREN}
    results = route(incident(incident_id="MP-1", victim__person_id="MP-P-V1", **serial),
                    incident(incident_id="MP-2", victim__person_id="MP-P-V2", **serial),
                    incident(incident_id="MP-2", victim__person_id="MP-P-V2", version=2,
                             victim__contact__phone="07700900999", **serial))
    assert ("MP-2", "refer", "MATAC", ("serial_perpetrator",)) in results[1]
    assert [entry for entry in results[2] if entry[2] == "MATAC"] == []


def test_a_perpetrator_no_longer_named_is_recalled_and_the_new_one_not_referred():
    serial = {"local_authority": "E08000011", **NO_CHILDREN}
    results = route(incident(incident_id="MP-1", victim__person_id="MP-P-V1", perpetrator__person_id="MP-P-SERIAL",
                             **serial),
                    incident(incident_id="MP-2", victim__person_id="MP-P-V2", perpetrator__person_id="MP-P-SERIAL",
                             **serial),
                    incident(incident_id="MP-2", victim__person_id="MP-P-V2", perpetrator__person_id="MP-P-OTHER",
                             version=2, **serial))
    assert [entry for entry in results[2] if entry[2] == "MATAC"] == [
        ("MP-2", "recall", "MATAC", ("subject_removed",))]


# --- withdrawals ----------------------------------------------------------------------------

def test_a_first_sighting_already_withdrawn_makes_nothing_for_a_later_incident_either():
    """Incident 2 re-graded to MARAC; a withdrawn incident between 2 and 4 arrives: 4 would
    meet repeat_marac, but a withdrawn notification makes nothing."""
    results = route(dated(2, "2026-02-10"), dated(4, "2026-04-10"), dated(2, "2026-02-10", risk=HIGH, version=2),
                    dated(3, "2026-03-01", status="withdrawn", withdrawal_reason="sent_in_error"))
    assert ("MP-2", "refer", "MARAC", ("visible_high_risk",)) in results[2]
    assert results[3] == []


def test_a_withdrawal_says_why_each_referral_is_recalled():
    _, withdrawn = routed(incident(**NO_CHILDREN), incident(version=2, status="withdrawn",
                                                            withdrawal_reason="wrong_person", **NO_CHILDREN))
    assert [(d.action, d.pathway, d.reasons, d.explanation) for d in withdrawn] == [
        ("recall", pathway, ("wrong_person",), ("wrong_person: the force withdrew the incident: wrong_person",))
        for pathway in ("MARAC", "IDVA")]


# --- late notifications ---------------------------------------------------------------------

def test_a_late_notification_escalates_two_later_incidents_in_the_order_they_were_reported():
    """Incidents 1, 4 and 3 arrive, then 2: now 3 is the third in 365 days (MARAC), and so 4,
    whose 365 days hold only 3 and itself, follows a MARAC referral (repeat_marac); a later
    version of 3 sends no referral again."""
    results = routed(dated(1, "2025-01-10"), dated(4, "2026-03-01"), dated(3, "2025-03-10"),
                     dated(2, "2025-02-10", sent_at="2026-03-05T12:00:00Z"), dated(3, "2025-03-10", version=2))
    late = [(d.incident_id, d.action, d.pathway, d.reasons, d.due_at) for d in results[3]]
    from_sent_at = at("2026-03-06T09:00:00")  # a working day after the late one's sent_at
    assert late == [
        ("MP-2", "refer", "COMMUNITY_ADVOCACY", ("medium_risk",), at("2025-02-12T09:00:00")),
        ("MP-3", "refer", "MARAC", ("potential_escalation", "late_notification"), from_sent_at),
        ("MP-3", "refer", "IDVA", ("potential_escalation", "late_notification"), from_sent_at),
        ("MP-3", "amend", "COMMUNITY_ADVOCACY", ("no_longer_met",), at("2025-03-12T09:00:00")),
        ("MP-4", "refer", "MARAC", ("repeat_marac", "late_notification"), from_sent_at),
        ("MP-4", "refer", "IDVA", ("repeat_marac", "late_notification"), from_sent_at),
        ("MP-4", "amend", "COMMUNITY_ADVOCACY", ("no_longer_met",), at("2026-03-03T09:00:00"))]
    why = "late_notification: the incident MP-2, reported 2025-02-10, arrived after this one and now counts before it"
    assert results[3][1].explanation[0] == why
    assert results[3][3].explanation == (f"no_longer_met: a MARAC referral is now made; {why}",)
    assert [(d.action, d.pathway, d.reasons, d.due_at) for d in results[4]] == [
        ("amend", "MARAC", ("potential_escalation",), from_sent_at),
        ("amend", "IDVA", ("potential_escalation",), from_sent_at)]


def test_a_second_late_notification_adds_its_criterion_and_leaves_the_standing_support_alone():
    results = route(dated(1, "2026-01-10"), dated(4, "2026-04-10"), dated(2, "2026-02-10"),
                    dated(3, "2026-03-10", risk=HIGH))
    assert results[2][1:] == [("MP-4", "refer", "MARAC", ("potential_escalation", "late_notification")),
                              ("MP-4", "refer", "IDVA", ("potential_escalation", "late_notification")),
                              ("MP-4", "amend", "COMMUNITY_ADVOCACY", ("no_longer_met",))]
    criteria = ("potential_escalation", "repeat_marac", "late_notification")
    assert results[3] == [("MP-3", "refer", "MARAC", ("visible_high_risk", "potential_escalation")),
                          ("MP-3", "refer", "IDVA", ("visible_high_risk", "potential_escalation")),
                          ("MP-4", "amend", "MARAC", criteria), ("MP-4", "amend", "IDVA", criteria)]


def test_a_late_notification_outside_every_window_leaves_a_later_marac_referral_alone():
    results = route(dated(1, "2026-01-10"), dated(2, "2026-02-10"), dated(4, "2026-04-10", risk=HIGH),
                    dated(0, "2024-12-01"))
    assert results[2] == [("MP-4", "refer", "MARAC", ("visible_high_risk", "potential_escalation")),
                          ("MP-4", "refer", "IDVA", ("visible_high_risk", "potential_escalation"))]
    assert results[3] == [("MP-0", "refer", "COMMUNITY_ADVOCACY", ("medium_risk",))]


def test_a_marac_referral_amended_by_a_late_notification_keeps_its_due_time():
    first, later, late = routed(dated(1, "2026-01-10"), dated(3, "2026-03-10", risk=HIGH),
                                dated(2, "2026-02-10", sent_at="2026-03-20T12:00:00Z"))
    amended = [d for d in late if d.action == "amend"]
    assert [(d.pathway, d.referral_id, d.due_at) for d in amended] == [
        (d.pathway, d.referral_id, at("2026-03-11T09:00:00")) for d in later]
