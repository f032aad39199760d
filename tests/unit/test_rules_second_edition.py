"""The second edition's rules at their boundaries (shared/spec/pathways.md): related children,
specialist services, protective notices on every victim pathway, counter-allegations,
MATAC only where an area has one, and the school's own term dates."""
import json
from datetime import datetime, timedelta

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.core.history import History, PerpetratorHistory, PerpetratorIncident
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident
from tests.unit.test_rules import KNOWSLEY, NO_CHILDREN, ST_HELENS, route

SEFTON, HALTON = "E08000014", "E06000006"
MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
HIGH = {"tool": "DASH", "dash_yes_count": 15}


def decisions_by_pathway(config, notification, history=History()) -> dict:
    return {d.pathway: d for d in route(config, notification, history)}


# --- children related to either adult ------------------------------------------------

@pytest.mark.parametrize("present, resides_with, related_to, encompass, mash", [
    (False, [], ["perpetrator"], ["child_related"], ["child_related"]),
    (False, [], ["victim", "perpetrator"], ["child_related"], ["child_related"]),
    (False, ["victim"], ["victim"], ["child_resident", "child_related"], ["children_in_household"]),
    (True, [], [], ["child_present"], ["children_in_household"]),
    (False, [], [], None, None),  # neither present, living with nor related: no one is told
])
def test_a_child_related_to_either_adult_is_told_to_the_school_and_the_mash(
        config, present, resides_with, related_to, encompass, mash):
    kid = child("MP-P-C1", present=present, resides_with=resides_with) | {"related_to": related_to}
    decisions = decisions_by_pathway(config, incident(risk=MEDIUM, children=[kid]))
    assert (list(decisions["ENCOMPASS"].reasons) if "ENCOMPASS" in decisions else None) == encompass
    assert (list(decisions["MASH_IDVA"].reasons) if "MASH_IDVA" in decisions else None) == mash


def test_household_and_related_only_children_are_listed_for_the_mash_separately(config):
    children = [child("MP-P-C1"), child("MP-P-C2", present=False, resides_with=[]) | {"related_to": ["victim"]}]
    mash = decisions_by_pathway(config, incident(risk=MEDIUM, children=children))["MASH_IDVA"]
    assert mash.reasons == ("children_in_household", "child_related")
    assert "child_related: 1 child(ren) of either adult living elsewhere: MP-P-C2" in mash.explanation


# --- specialist services ---------------------------------------------------------------

@pytest.mark.parametrize("area, flags, risk, consent, services", [
    (KNOWSLEY, ["honour_based_abuse"], {"tool": "DASH", "dash_yes_count": 9}, True, ["savera-uk"]),
    (KNOWSLEY, ["honour_based_abuse", "forced_marriage"], MEDIUM, True, ["savera-uk", "karma-nirvana"]),
    (KNOWSLEY, ["stalking", "separation"], MEDIUM, True, ["national-stalking-helpline"]),
    (KNOWSLEY, ["honour_based_abuse"], MEDIUM, False, []),            # no consent, no MARAC
    (KNOWSLEY, ["honour_based_abuse"], HIGH, False, ["savera-uk"]),   # alongside MARAC
    (ST_HELENS, ["honour_based_abuse"], MEDIUM, True, []),            # St Helens names no service
    (ST_HELENS, ["no_recourse_to_public_funds"], MEDIUM, True, ["st-helens-nrpf"]),
    (SEFTON, ["stalking", "no_recourse_to_public_funds"], HIGH, True, []),
])
def test_each_flag_goes_to_the_service_the_victims_area_names(config, area, flags, risk, consent, services):
    notification = incident(local_authority=area, flags=flags, risk=risk, consent_to_share=consent,
                            **NO_CHILDREN)
    specialist = [d for d in route(config, notification) if d.pathway == "SPECIALIST"]
    assert [d.recipient for d in specialist] == services
    assert len({d.referral_id for d in specialist}) == len(specialist)  # one referral per service
    assert all(d.subject_id == "MP-P-88123" for d in specialist)


def test_a_honour_based_abuse_victim_below_marac_gets_the_specialist_and_community_sees_the_flag(config):
    notification = incident(local_authority=KNOWSLEY, flags=["honour_based_abuse"],
                            risk={"tool": "DASH", "dash_yes_count": 9}, **NO_CHILDREN)
    decisions = decisions_by_pathway(config, notification)
    assert set(decisions) == {"COMMUNITY_ADVOCACY", "SPECIALIST"}
    specialist = decisions["SPECIALIST"]
    assert specialist.reasons == ("honour_based_abuse",)
    assert specialist.explanation[:2] == (
        "honour_based_abuse: flagged by the police; Knowsley sends honour based abuse to "
        "Savera UK (honour-based abuse and harmful practices)",
        "the victim consented to a referral")
    assert specialist.as_route_output()["due_at"] == "2026-11-24T09:00:00Z"  # 2 working days


@pytest.mark.parametrize("born, referred", [("2010-11-20", True), ("2010-11-21", False)])  # 16 / 15
def test_specialist_services_are_for_victims_of_16_and_over(config, born, referred):
    notification = incident(local_authority=KNOWSLEY, flags=["stalking"], victim__date_of_birth=born,
                            **NO_CHILDREN)
    assert ("SPECIALIST" in decisions_by_pathway(config, notification)) == referred


# --- protective notices ------------------------------------------------------------------
# Reported Monday 23 November 2026 10:00 (GMT). Usual deadlines: MARAC, IDVA, MASH IDVA
# Tuesday 09:00 (1 working day: sooner than 24 hours); community, young people, specialist
# Wednesday 09:00 (2 working days); adult safeguarding Tuesday 10:00 (24 hours).
REPORTED = "2026-11-23T10:00:00Z"
VICTIM_CASES = {
    "MARAC": dict(risk=HIGH), "IDVA": dict(risk=HIGH),
    "COMMUNITY_ADVOCACY": dict(risk=MEDIUM),
    "YOUNG_PEOPLE": dict(risk=MEDIUM, victim__date_of_birth="2009-05-01"),
    "SPECIALIST": dict(risk=MEDIUM, local_authority=KNOWSLEY, flags=["stalking"]),
    "ADULT_SAFEGUARDING": dict(risk=MEDIUM, victim__date_of_birth="1950-01-01"),
    "MASH_IDVA": dict(risk=MEDIUM, children=[child("MP-P-C1")]),
}


@pytest.mark.parametrize("pathway, expires_at, due", [
    # 1 working day, Tuesday 09:00: a notice expiring before it brings it forward
    ("MARAC", "2026-11-24T08:00:00Z", "2026-11-24T08:00:00Z"),
    ("MARAC", "2026-11-24T09:00:00Z", "2026-11-24T09:00:00Z"),   # at
    ("MARAC", "2026-11-24T12:00:00Z", "2026-11-24T09:00:00Z"),   # after
    ("MARAC", "2026-11-23T09:30:00Z", "2026-11-24T09:00:00Z"),   # expired before the report
    ("IDVA", "2026-11-24T08:00:00Z", "2026-11-24T08:00:00Z"),
    ("IDVA", "2026-11-24T12:00:00Z", "2026-11-24T09:00:00Z"),
    # 2 working days, Wednesday 09:00: 24 hours (Tuesday 10:00) is sooner, or the expiry
    ("COMMUNITY_ADVOCACY", "2026-11-25T08:00:00Z", "2026-11-24T10:00:00Z"),
    ("COMMUNITY_ADVOCACY", "2026-11-25T09:00:00Z", "2026-11-24T10:00:00Z"),
    ("COMMUNITY_ADVOCACY", "2026-11-25T12:00:00Z", "2026-11-24T10:00:00Z"),
    ("COMMUNITY_ADVOCACY", "2026-11-24T08:00:00Z", "2026-11-24T08:00:00Z"),
    ("COMMUNITY_ADVOCACY", "2026-11-23T09:30:00Z", "2026-11-25T09:00:00Z"),
    ("YOUNG_PEOPLE", "2026-11-24T08:00:00Z", "2026-11-24T08:00:00Z"),
    ("YOUNG_PEOPLE", "2026-11-25T12:00:00Z", "2026-11-24T10:00:00Z"),
    ("SPECIALIST", "2026-11-24T08:00:00Z", "2026-11-24T08:00:00Z"),
    ("SPECIALIST", "2026-11-25T09:00:00Z", "2026-11-24T10:00:00Z"),
    ("SPECIALIST", "2026-11-23T09:30:00Z", "2026-11-25T09:00:00Z"),
    # not shortened: adult safeguarding (24 hours) and the MASH (children's safeguarding)
    ("ADULT_SAFEGUARDING", "2026-11-24T08:00:00Z", "2026-11-24T10:00:00Z"),
    ("MASH_IDVA", "2026-11-24T08:00:00Z", "2026-11-24T09:00:00Z"),
])
def test_a_protective_notice_brings_every_victim_pathway_forward(config, pathway, expires_at, due):
    notice = {"type": "DVPN", "issued_at": "2026-11-23T09:00:00Z", "expires_at": expires_at}
    notification = incident(**({"reported_at": REPORTED, "occurred_at": None, "children": [],
                                "protective_notice": notice} | VICTIM_CASES[pathway]))
    decision = decisions_by_pathway(config, notification)[pathway]
    assert decision.as_route_output()["due_at"] == due


def test_a_high_risk_victim_with_a_notice_is_due_no_later_than_a_standard_one(config):
    """The issue's case: a Friday night report with a DVPN that expires on Sunday night."""
    notice = {"type": "DVPN", "issued_at": "2026-11-20T23:00:00Z", "expires_at": "2026-11-22T23:00:00Z"}
    due = {level: decisions_by_pathway(config, incident(risk=risk, protective_notice=notice, **NO_CHILDREN))
           [pathway].as_route_output()["due_at"]
           for level, risk, pathway in [("high", HIGH, "IDVA"), ("standard", {"tool": "DASH", "dash_yes_count": 3},
                                                                 "COMMUNITY_ADVOCACY")]}
    assert due == {"high": "2026-11-21T22:14:00Z", "standard": "2026-11-21T22:14:00Z"}


def test_the_explanation_says_the_notice_expiry_set_the_deadline(config):
    notice = {"type": "DVPN", "issued_at": "2026-11-23T09:00:00Z", "expires_at": "2026-11-24T08:00:00Z"}
    notification = incident(reported_at=REPORTED, occurred_at=None, protective_notice=notice, **NO_CHILDREN)
    assert decisions_by_pathway(config, notification)["IDVA"].explanation[-1] == (
        "due Tuesday 24 November 2026 08:00 UK time: when the DVPN expires, sooner than 1 working day "
        "after the report (Monday 23 November 2026 10:00)")


# --- counter-allegations -----------------------------------------------------------------

def reversed_pair(config, days_between: int, reverse: bool = True) -> list:
    """Anne abuses Ben, then (days later) Ben is recorded abusing Anne, or Anne again Ben."""
    first = incident(incident_id="MP-1", reported_at="2025-06-01T12:00:00Z", occurred_at=None,
                     risk=MEDIUM, victim__person_id="P-BEN", perpetrator__person_id="P-ANNE", **NO_CHILDREN)
    later = (datetime(2025, 6, 1, 12) + timedelta(days=days_between)).strftime("%Y-%m-%dT%H:%M:%SZ")
    victim, perpetrator = ("P-ANNE", "P-BEN") if reverse else ("P-BEN", "P-ANNE")
    second = incident(incident_id="MP-2", reported_at=later, occurred_at=None, risk=HIGH,
                      victim__person_id=victim, perpetrator__person_id=perpetrator,
                      children=[child("MP-P-C1")])
    router = OfflineRouter(config)
    router.route(parse_incident(json.dumps(first), config))
    return router.route(parse_incident(json.dumps(second), config))


@pytest.mark.parametrize("days, flagged", [(0, True), (365, True), (366, False)])
def test_a_counter_allegation_within_365_days_is_flagged_on_every_victim_referral(config, days, flagged):
    decisions = reversed_pair(config, days)
    victim = [d for d in decisions if d.pathway in ("MARAC", "IDVA", "MASH_IDVA")]
    assert len(victim) == 3
    for decision in victim:
        assert ("possible_counter_allegation" in decision.reasons) == flagged
        assert decision.linked_incidents == (("merseyside/MP-1",) if flagged else ())
    encompass = [d for d in decisions if d.pathway == "ENCOMPASS"]
    assert encompass and all("possible_counter_allegation" not in d.reasons for d in encompass)


def test_the_same_roles_again_is_no_counter_allegation(config):
    assert not any("possible_counter_allegation" in d.reasons for d in reversed_pair(config, 30, reverse=False))


def test_the_explanation_names_the_earlier_incident(config):
    [marac] = [d for d in reversed_pair(config, 40) if d.pathway == "MARAC"]
    assert marac.explanation[0] == (
        "possible_counter_allegation: the victim was recorded as the perpetrator against this "
        "perpetrator on 2025-06-01 (incident merseyside/MP-1, 40 days before): look at both before acting")


# --- MATAC only where the area has one ---------------------------------------------------

@pytest.mark.parametrize("area, matac", [
    (KNOWSLEY, "knowsley-matac"), (SEFTON, "sefton-matac"), (ST_HELENS, None), (HALTON, None)])
def test_a_serial_perpetrator_goes_to_matac_only_where_the_victims_area_has_one(config, area, matac):
    earlier = PerpetratorIncident("merseyside/OLD-1", "merseyside:OTHER",
                                  datetime.fromisoformat("2026-06-01T10:00:00+00:00"), False)
    force = "cheshire" if area == HALTON else "merseyside"
    notification = incident(local_authority=area, force=force, **NO_CHILDREN)
    decision = decisions_by_pathway(config, notification, History(perpetrator=PerpetratorHistory((earlier,))))
    assert (decision["MATAC"].recipient if "MATAC" in decision else None) == matac


def test_an_incident_in_an_area_without_matac_still_counts_towards_one_elsewhere(config):
    router = OfflineRouter(config)
    st_helens = incident(incident_id="MP-1", reported_at="2026-06-01T10:00:00Z", occurred_at=None,
                         victim__person_id="P-V1", **NO_CHILDREN)
    knowsley = incident(incident_id="MP-2", local_authority=KNOWSLEY, victim__person_id="P-V2", **NO_CHILDREN)
    assert "MATAC" not in {d.pathway for d in router.route(parse_incident(json.dumps(st_helens), config))}
    [matac] = [d for d in router.route(parse_incident(json.dumps(knowsley), config)) if d.pathway == "MATAC"]
    assert matac.linked_incidents == ("merseyside/MP-1", "merseyside/MP-2")


# --- young perpetrators ------------------------------------------------------------------

@pytest.mark.parametrize("relationship, words", [
    ("partner", "perpetrator aged 17, the victim's partner: abuse in a young person's relationship"),
    ("ex_partner", "perpetrator aged 17, the victim's ex-partner: abuse in a young person's relationship"),
    ("family_member", "perpetrator aged 17, a family member: possibly child-to-parent or sibling abuse"),
])
def test_a_17_year_old_partner_is_not_called_child_to_parent_abuse(config, relationship, words):
    notification = incident(perpetrator__date_of_birth="2009-01-01", perpetrator__relationship=relationship,
                            victim__date_of_birth="2008-06-01", **NO_CHILDREN)
    mash = decisions_by_pathway(config, notification)["MASH_IDVA"]
    assert f"perpetrator_under_18: {words}" in mash.explanation


# --- term dates of the school's own area -------------------------------------------------
# Invented terms: St Helens' half term is 19-23 October 2026, Knowsley's 26-30 October.
# (Clocks go back on 25 October: 09:00 is 08:00 UTC before, 09:00 UTC after.)

@pytest.mark.parametrize("victim_area, education, reported_at, due", [
    # Friday 16 October: Knowsley's schools open on Monday the 19th, St Helens' on the 26th
    (KNOWSLEY, {"setting": "school", "urn": "104808"}, "2026-10-16T19:00:00Z", "2026-10-26T09:00:00Z"),
    (KNOWSLEY, {"setting": "school", "urn": "104500"}, "2026-10-16T19:00:00Z", "2026-10-19T08:00:00Z"),
    (ST_HELENS, {"setting": "school", "urn": "104500"}, "2026-10-16T19:00:00Z", "2026-10-19T08:00:00Z"),
    (ST_HELENS, {"setting": "school", "urn": "104808"}, "2026-10-16T19:00:00Z", "2026-10-26T09:00:00Z"),
    # Friday 23 October: St Helens' schools open on the 26th, Knowsley's on 2 November
    (KNOWSLEY, {"setting": "school", "urn": "104808"}, "2026-10-23T19:00:00Z", "2026-10-26T09:00:00Z"),
    (ST_HELENS, {"setting": "school", "urn": "104500"}, "2026-10-23T19:00:00Z", "2026-11-02T09:00:00Z"),
    # the area's own contacts: the fallback and home education keep the victim's area's days
    (KNOWSLEY, {"setting": "school", "urn": "999999"}, "2026-10-23T19:00:00Z", "2026-11-02T09:00:00Z"),
    (ST_HELENS, {"setting": "home_educated", "urn": None}, "2026-10-16T19:00:00Z", "2026-10-26T09:00:00Z"),
])
def test_encompass_counts_the_school_days_of_the_schools_own_area(config, victim_area, education,
                                                                   reported_at, due):
    kid = child("MP-P-C1") | {"education": education}
    notification = incident(local_authority=victim_area, reported_at=reported_at, occurred_at=None,
                            children=[kid])
    assert decisions_by_pathway(config, notification)["ENCOMPASS"].as_route_output()["due_at"] == due


def test_the_explanation_says_whose_school_days_count(config):
    notification = incident(local_authority=KNOWSLEY, children=[child("MP-P-C1", urn="104808")])
    assert "school days are those of St Helens, the school's area" in \
        decisions_by_pathway(config, notification)["ENCOMPASS"].explanation


def test_a_counter_allegation_notified_first_warns_the_one_that_comes_second(config):
    """Two notifications of one call-out can reach the pair's history in either order: the
    earlier-reported one, coming second, carries the warning and names the later one."""
    later = incident(incident_id="MP-2", reported_at="2025-06-02T12:00:00Z", occurred_at=None, risk=MEDIUM,
                     victim__person_id="P-ANNE", perpetrator__person_id="P-BEN", **NO_CHILDREN)
    earlier = incident(incident_id="MP-1", reported_at="2025-06-01T12:00:00Z", occurred_at=None, risk=MEDIUM,
                       victim__person_id="P-BEN", perpetrator__person_id="P-ANNE", **NO_CHILDREN)
    router = OfflineRouter(config)
    [first] = router.route(parse_incident(json.dumps(later), config))
    [second] = router.route(parse_incident(json.dumps(earlier), config))
    assert "possible_counter_allegation" not in first.reasons
    assert second.reasons[-1] == "possible_counter_allegation"
    assert second.linked_incidents == ("merseyside/MP-2",)
    assert "(incident merseyside/MP-2, 1 day after, notified first)" in second.explanation[0]


def test_the_victim_stages_decisions_cross_to_the_pair_stage_unchanged(config):
    from referral_hub.adapters.avro import AvroCodec
    from referral_hub.services.router.app import routed_incident, victim_stage_decisions
    from referral_hub.settings import REPO_ROOT
    codec = AvroCodec(REPO_ROOT / "schemas" / "avro")
    decisions = route(config, incident(local_authority=KNOWSLEY, flags=["stalking"]))
    encoded = codec.encode("routed-incident", routed_incident(b"incident bytes", decisions))
    decoded = codec.decode("routed-incident", encoded)
    assert decoded["incident"] == b"incident bytes"
    assert [(d, d.explanation) for d in victim_stage_decisions(decoded)] == [(d, d.explanation) for d in decisions]
