"""The pathway rules, as a MARAC coordinator and a school's Key Adult would check them."""
import json
from datetime import datetime, timedelta

import pytest

from referral_hub.core.history import (History, PerpetratorHistory, PerpetratorIncident, PriorIncident, VictimHistory)
from referral_hub.core.rules import decide
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

NO_CHILDREN = {"children": []}
KNOWSLEY, ST_HELENS = "E08000011", "E08000013"


def route(config, notification, history=History()):
    return decide(parse_incident(json.dumps(notification), config), history, config)


def pathways(config, notification, history=History()) -> dict[str, list[str]]:
    return {d.pathway: list(d.reasons) for d in route(config, notification, history)
            if d.pathway != "ENCOMPASS"}


def test_the_spec_example_goes_to_marac_idva_the_school_and_the_mash(config):
    decisions = route(config, incident())
    assert decisions[0].as_route_output() == {
        "incident_id": "MP-2026-0004711", "pathway": "MARAC", "subject_id": "MP-P-88123",
        "recipient": "st-helens-marac", "reasons": ["visible_high_risk"],
        "due_at": "2026-11-23T09:00:00Z", "action": "refer",
        "referral_id": "ref-aa5a05a79675cf8ead047834", "related_incidents": []}
    assert [(d.pathway, d.recipient, d.subject_id) for d in decisions[1:]] == [
        ("IDVA", "st-helens-idva", "MP-P-88123"),
        ("ENCOMPASS", "setting-104808", "MP-P-90001"),
        ("MASH_IDVA", "st-helens-mash", "MP-P-88123")]


@pytest.mark.parametrize("risk, expected", [
    ({"tool": "DASH", "dash_yes_count": 14}, {"MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"]}),
    ({"tool": "DASH", "dash_yes_count": 13}, {"COMMUNITY_ADVOCACY": ["medium_risk"]}),
    ({"tool": "DASH", "dash_yes_count": 10}, {"COMMUNITY_ADVOCACY": ["medium_risk"]}),
    ({"tool": "DASH", "dash_yes_count": 9}, {"COMMUNITY_ADVOCACY": ["standard_risk"]}),
    ({"tool": "DASH", "dash_yes_count": 9, "officer_grade": "medium"}, {"COMMUNITY_ADVOCACY": ["medium_risk"]}),
    ({"tool": "DASH", "dash_yes_count": 9, "officer_grade": "high"},
     {"MARAC": ["professional_judgement"], "IDVA": ["professional_judgement"]}),
    ({"tool": "DASH", "dash_yes_count": 3, "professional_judgement": True,
      "professional_judgement_reason": "officer's concern"},
     {"MARAC": ["professional_judgement"], "IDVA": ["professional_judgement"]}),
    ({"tool": "MERIT", "merit_score": 72}, {"MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"]}),
    ({"tool": "MERIT", "merit_score": 71}, {"COMMUNITY_ADVOCACY": ["standard_risk"]}),
    ({"tool": "MERIT", "merit_grade": "gold"}, {"MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"]}),
    ({"tool": "MERIT", "merit_grade": "silver"}, {"COMMUNITY_ADVOCACY": ["medium_risk"]}),
    ({"tool": "MERIT", "merit_grade": "bronze", "officer_grade": "standard"}, {"COMMUNITY_ADVOCACY": ["standard_risk"]}),
    ({"tool": "DARA", "officer_grade": "high"}, {"MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"]}),
    ({"tool": "NONE", "officer_grade": "high"},
     {"MARAC": ["professional_judgement"], "IDVA": ["professional_judgement"]}),
    ({"tool": "NONE", "officer_grade": "medium"}, {"COMMUNITY_ADVOCACY": ["medium_risk"]}),
])
def test_risk_level_decides_between_marac_and_community_advocacy(config, risk, expected):
    assert pathways(config, incident(risk=risk, **NO_CHILDREN)) == expected


@pytest.mark.parametrize("born, expected", [
    ("2010-11-21", {"MASH_IDVA": ["victim_under_16"]}),                        # 15, 16 tomorrow
    ("2010-11-20", {"YOUNG_PEOPLE": ["victim_16_17", "standard_risk"],          # 16 that day
                    "MASH_IDVA": ["victim_16_17"]}),
    ("2009-06-01", {"YOUNG_PEOPLE": ["victim_16_17", "standard_risk"], "MASH_IDVA": ["victim_16_17"]}),
    ("2008-11-20", {"COMMUNITY_ADVOCACY": ["standard_risk"]}),                  # 18 that day
    ("1961-11-21", {"COMMUNITY_ADVOCACY": ["standard_risk"]}),                  # 64
    ("1961-11-20", {"COMMUNITY_ADVOCACY": ["standard_risk"],                    # 65 that day
                    "ADULT_SAFEGUARDING": ["older_victim"]}),
])
def test_the_victims_age_decides_the_victim_pathways(config, born, expected):
    standard = {"tool": "DASH", "dash_yes_count": 2, "officer_grade": "standard"}
    assert pathways(config, incident(victim__date_of_birth=born, risk=standard, **NO_CHILDREN)) == expected


def test_a_high_risk_victim_of_17_goes_to_marac_and_the_mash(config):
    assert pathways(config, incident(victim__date_of_birth="2009-06-01", **NO_CHILDREN)) == {
        "MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"], "MASH_IDVA": ["victim_16_17"]}


def test_an_adult_at_risk_goes_to_adult_safeguarding_whatever_the_risk(config):
    found = pathways(config, incident(flags=["adult_at_risk"], **NO_CHILDREN))
    assert found["ADULT_SAFEGUARDING"] == ["adult_at_risk"] and "MARAC" in found


def test_without_consent_no_support_service_referral_but_marac_still_happens(config):
    medium = {"tool": "DASH", "dash_yes_count": 11}
    assert pathways(config, incident(risk=medium, consent_to_share=False, **NO_CHILDREN)) == {}
    assert "MARAC" in pathways(config, incident(consent_to_share=False, **NO_CHILDREN))


def test_a_protective_notice_in_force_shortens_the_community_deadline_to_24_hours(config):
    notice = {"type": "DVPN", "issued_at": "2026-11-20T23:00:00Z", "expires_at": "2026-11-22T23:00:00Z"}
    [decision] = route(config, incident(risk={"tool": "DASH", "dash_yes_count": 5},
                                        protective_notice=notice, **NO_CHILDREN))
    assert decision.reasons == ("standard_risk", "protective_notice")
    assert decision.as_route_output()["due_at"] == "2026-11-21T22:14:00Z"


def test_a_perpetrator_under_18_is_child_to_parent_abuse_for_the_mash(config):
    found = pathways(config, incident(perpetrator__date_of_birth="2010-01-01", **NO_CHILDREN))
    assert found["MASH_IDVA"] == ["perpetrator_under_18"]


def encompass(config, *children) -> list[tuple[str, str, list[str]]]:
    return [(d.subject_id, d.recipient, list(d.reasons))
            for d in route(config, incident(children=list(children))) if d.pathway == "ENCOMPASS"]


def test_each_child_at_a_setting_in_the_directory_is_one_notification_to_its_key_adult(config):
    assert encompass(config, child("C1", urn="104808"), child("C2", urn="104808", present=False)) == [
        ("C1", "setting-104808", ["child_present", "child_resident"]),
        ("C2", "setting-104808", ["child_resident"])]


def test_a_setting_missing_from_the_directory_goes_to_the_areas_fallback(config):
    assert encompass(config, child("C1", urn="999999"), child("C2", setting="college", urn=None)) == [
        ("C1", "st-helens-encompass", ["child_present", "child_resident", "setting_not_in_directory"]),
        ("C2", "st-helens-encompass", ["child_present", "child_resident", "setting_not_in_directory"])]


def test_home_educated_children_go_to_childrens_services(config):
    assert encompass(config, child("C1", setting="home_educated", urn=None)) == [
        ("C1", "st-helens-home-education", ["child_present", "child_resident", "home_educated"])]


def test_children_with_no_setting_or_not_involved_get_no_encompass_but_the_mash_hears(config):
    decisions = route(config, incident(children=[
        child("C1", setting="none", urn=None),
        child("C2", present=False, resides_with=[])]))
    assert "ENCOMPASS" not in {d.pathway for d in decisions}
    assert [d.reasons for d in decisions if d.pathway == "MASH_IDVA"] == [("children_in_household",)]


def prior(days_before: int, marac: bool = False) -> PriorIncident:
    reported = datetime.fromisoformat("2026-11-20T22:14:00+00:00") - timedelta(days=days_before)
    return PriorIncident(f"merseyside/OLD-{days_before}", reported, marac)


MEDIUM = {"risk": {"tool": "DASH", "dash_yes_count": 11}, **NO_CHILDREN}


@pytest.mark.parametrize("history, expected", [
    ((prior(30), prior(365)), ["potential_escalation"]),
    ((prior(30), prior(366)), None),
    ((prior(365, marac=True),), ["repeat_marac"]),
    ((prior(366, marac=True),), None),
])
def test_escalation_and_repeat_marac_count_365_days_inclusive(config, history, expected):
    found = pathways(config, incident(**MEDIUM), History(VictimHistory(history)))
    assert found.get("MARAC") == expected


def test_the_same_incident_again_changes_nothing(config):
    notification = incident()
    first = route(config, notification)
    parsed = parse_incident(json.dumps(notification), config)
    history = History(VictimHistory().recording(parsed, VictimHistory.remembered(parsed, first), config),
                      PerpetratorHistory().recording(parsed, PerpetratorHistory.remembered(parsed, first), config))
    assert first and route(config, notification, history) == []


def test_referral_ids_are_the_same_every_time_and_differ_between_referrals(config):
    ids = [d.referral_id for d in route(config, incident())]
    assert ids == [d.referral_id for d in route(config, incident())]
    assert len(set(ids)) == len(ids)


def against(days_before: int, victim: str, matac: bool = False) -> PerpetratorIncident:
    reported = datetime.fromisoformat("2026-11-20T22:14:00+00:00") - timedelta(days=days_before)
    return PerpetratorIncident(f"merseyside/P-{days_before}-{victim}", f"merseyside:{victim}", reported, matac)


def matac(config, *earlier: PerpetratorIncident) -> list:
    history = History(perpetrator=PerpetratorHistory(earlier))
    return [(d.subject_id, d.recipient, d.reasons, d.as_route_output()["due_at"])
            for d in route(config, incident(local_authority=KNOWSLEY, **NO_CHILDREN), history)
            if d.pathway == "MATAC"]


def test_a_perpetrator_recorded_against_a_second_victim_within_three_years_goes_to_matac(config):
    assert matac(config, against(400, "MP-P-OTHER")) == [
        ("MP-P-40007", "knowsley-matac", ("serial_perpetrator",), "2026-12-18T22:14:00Z")]


@pytest.mark.parametrize("earlier, referred", [
    ((against(1095, "MP-P-OTHER"),), True),            # 21 Nov 2023: within 3 years
    ((against(1097, "MP-P-OTHER"),), False),           # 19 Nov 2023: outside (20 Nov is the edge)
    ((against(30, "MP-P-88123"),), False),             # the same victim again is not serial
    ((against(30, "MP-P-OTHER", matac=True),), False),  # referred 30 days ago: once in 12 months
    ((against(400, "MP-P-OTHER", matac=True), against(100, "MP-P-THIRD")), True),
])
def test_matac_windows(config, earlier, referred):
    assert bool(matac(config, *earlier)) == referred


def test_no_perpetrator_means_no_matac(config):
    notification = incident(**NO_CHILDREN)
    del notification["perpetrator"]
    history = History(perpetrator=PerpetratorHistory((against(30, "MP-P-OTHER"),)))
    assert "MATAC" not in {d.pathway for d in route(config, notification, history)}


def explanation(config, notification, pathway, history=History()) -> list[str]:
    return next(list(d.explanation) for d in route(config, notification, history) if d.pathway == pathway)


def test_the_explanation_gives_the_rule_and_the_facts(config):
    history = History(VictimHistory((prior(320), prior(246, marac=True))))
    lines = explanation(config, incident(**NO_CHILDREN), "MARAC", history)
    assert lines == [
        "visible_high_risk: DASH 15 yes answers (14 or more is high)",
        "potential_escalation: third incident in 365 days: 2026-01-04, 2026-03-19, 2026-11-20",
        "repeat_marac: referred to MARAC for the incident of 2026-03-19, 246 days before this one",
        "due Monday 23 November 2026 09:00 UK time: 1 working day after the report (Friday 20 November 2026 22:14)"]


def test_the_explanation_names_the_school_but_never_the_child(config):
    lines = explanation(config, incident(), "ENCOMPASS")
    assert "attends Example Park Primary School (URN 104808): its Key Adult is told" in lines
    assert not any("Sam" in line or "2016-09-14" in line for line in lines)


def test_a_protective_notice_explains_the_shorter_deadline(config):
    notice = {"type": "DVPO", "issued_at": "2026-11-20T23:00:00Z", "expires_at": "2026-12-20T23:00:00Z"}
    lines = explanation(config, incident(risk={"tool": "DASH", "dash_yes_count": 5}, protective_notice=notice,
                                         **NO_CHILDREN), "COMMUNITY_ADVOCACY")
    assert lines[1] == "protective_notice: DVPO in force until Sunday 20 December 2026 23:00"
    assert lines[2] == ("due Saturday 21 November 2026 22:14 UK time: 24 hours after the report "
                        "(Friday 20 November 2026 22:14), as a DVPO is in force")


@pytest.mark.parametrize("area, urn, due", [
    ("E08000013", "104808", "2027-01-05T09:00:00Z"),  # St Helens' spring term starts 5 January
    ("E08000011", "104500", "2027-01-05T09:00:00Z"),  # Knowsley's spring term starts 5 January
])
def test_term_dates_carry_encompass_over_the_christmas_holiday(config, area, urn, due):
    notification = incident(local_authority=area, reported_at="2026-12-18T20:00:00Z", occurred_at=None,
                            children=[child("C1", urn=urn)])
    [encompass] = [d for d in route(config, notification) if d.pathway == "ENCOMPASS"]
    assert encompass.as_route_output()["due_at"] == due
