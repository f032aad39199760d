"""Each rule at its edges: the day before, of and after each window; each age on either side
of its birthday; the UK calendar day late in the evening. A rule off by one day, one year
or one hour sends a victim to the wrong service or tells a school too late."""
import json
from datetime import datetime, timedelta

import pytest

from referral_hub.core.history import (History, PerpetratorHistory, PerpetratorIncident, PriorIncident, VictimHistory)
from referral_hub.core.rules import decide
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

REPORTED = datetime.fromisoformat("2026-11-20T22:14:00+00:00")  # the spec example: Friday, GMT
NO_CHILDREN = {"children": []}
STANDARD = {"risk": {"tool": "DASH", "dash_yes_count": 2, "officer_grade": "standard"}, **NO_CHILDREN}
KNOWSLEY = {"local_authority": "E08000011"}  # an area with a MATAC (St Helens has none)
MEDIUM = {"risk": {"tool": "DASH", "dash_yes_count": 11}, **NO_CHILDREN}


def route(config, notification, history=History()):
    return decide(parse_incident(json.dumps(notification), config), history, config)


def pathways(config, notification, history=History()) -> dict[str, list[str]]:
    return {d.pathway: list(d.reasons) for d in route(config, notification, history)}


def due(config, notification, pathway: str, history=History()) -> str:
    [decision] = [d for d in route(config, notification, history) if d.pathway == pathway]
    return decision.as_route_output()["due_at"]


def prior(days_before: int, marac: bool = False, at: datetime = REPORTED) -> PriorIncident:
    return PriorIncident(f"merseyside/OLD-{days_before}", at - timedelta(days=days_before), marac)


def victim_history(*incidents: PriorIncident) -> History:
    return History(VictimHistory(incidents))


# --- escalation and repeat MARAC: 365 UK calendar days, inclusive ------------------------

@pytest.mark.parametrize("history, expected", [
    ((prior(364), prior(365)), ["potential_escalation"]),   # 21 and 20 November 2025
    ((prior(365), prior(365)), ["potential_escalation"]),
    ((prior(365), prior(366)), None),                       # 19 November 2025: outside
    ((prior(30),), None),                                   # the second incident is not yet a pattern
    ((prior(0), prior(0)), ["potential_escalation"]),       # earlier the same day counts
])
def test_escalation_is_the_third_incident_in_365_days(config, history, expected):
    assert pathways(config, incident(**MEDIUM), victim_history(*history)).get("MARAC") == expected


def test_an_incident_reported_after_this_one_does_not_count_towards_its_escalation(config):
    later = PriorIncident("merseyside/LATER", REPORTED + timedelta(minutes=1), False)
    assert "MARAC" not in pathways(config, incident(**MEDIUM), victim_history(prior(30), later))


@pytest.mark.parametrize("history, expected", [
    ((prior(364, marac=True),), ["repeat_marac"]),
    ((prior(365, marac=True),), ["repeat_marac"]),
    ((prior(366, marac=True),), None),
    ((prior(30, marac=False),), None),  # an earlier incident that did not go to MARAC
])
def test_repeat_marac_looks_back_365_days(config, history, expected):
    assert pathways(config, incident(**MEDIUM), victim_history(*history)).get("MARAC") == expected


def test_the_windows_count_uk_days_not_hours(config):
    """23:30 on 20 November 2025 is 365 UK days before 00:10 on 20 November 2026 (GMT)."""
    late = datetime.fromisoformat("2025-11-20T23:30:00+00:00")
    early = datetime.fromisoformat("2026-11-20T00:10:00+00:00")
    history = victim_history(PriorIncident("merseyside/LATE", late, True))
    assert pathways(config, incident(reported_at=early.isoformat(), occurred_at=None, **MEDIUM),
                    history)["MARAC"] == ["repeat_marac"]


def test_in_summer_the_windows_count_uk_days_too(config):
    """23:30 UTC on 19 June 2025 is 00:30 on 20 June in the UK: 365 days before 20 June 2026."""
    late = datetime.fromisoformat("2025-06-19T23:30:00+00:00")
    history = victim_history(PriorIncident("merseyside/LATE", late, True))
    assert pathways(config, incident(reported_at="2026-06-20T10:00:00Z", occurred_at=None, **MEDIUM),
                    history)["MARAC"] == ["repeat_marac"]


def test_repeat_marac_names_the_most_recent_marac_referral(config):
    history = victim_history(prior(300, marac=True), prior(100, marac=True))
    [marac] = [d for d in route(config, incident(**MEDIUM), history) if d.pathway == "MARAC"]
    assert marac.explanation[1] == ("repeat_marac: referred to MARAC for the incident of 2026-08-12, "
                                    "100 days before this one")


def test_escalation_counts_the_incidents_in_words(config):
    history = victim_history(prior(200), prior(100), prior(50), prior(10))
    [marac] = [d for d in route(config, incident(**MEDIUM), history) if d.pathway == "MARAC"]
    assert marac.explanation[0] == ("potential_escalation: fifth incident in 365 days: "
                                    "2026-05-04, 2026-08-12, 2026-10-01, 2026-11-10, 2026-11-20")


def test_a_merit_grade_without_a_score_is_not_scored(config):
    """An area whose MERIT score threshold is 1: a silver grade with no score stays medium."""
    area = config.areas["E08000013"]
    low = area.model_copy(update={"risk": area.risk.model_copy(update={"merit_high_score": 1})})
    lowered = config.model_copy(update={"areas": config.areas | {"E08000013": low}})
    notification = incident(risk={"tool": "MERIT", "merit_grade": "silver"}, **NO_CHILDREN)
    assert pathways(lowered, notification) == {"COMMUNITY_ADVOCACY": ["medium_risk"]}


def test_the_support_referral_is_about_the_victim(config):
    [decision] = route(config, incident(**STANDARD))
    assert decision.as_route_output() == {
        "incident_id": "MP-2026-0004711", "pathway": "COMMUNITY_ADVOCACY", "subject_id": "MP-P-88123",
        "recipient": "st-helens-community", "reasons": ["standard_risk"], "due_at": "2026-11-24T09:00:00Z",
        "action": "refer", "referral_id": "ref-054c6dd11375645a4d40b3db", "related_incidents": []}


# --- ages: 15/16/17/18 and 64/65 on the UK day of the report ---------------------------

@pytest.mark.parametrize("born, expected", [
    ("2010-11-21", {"MASH_IDVA": ["victim_under_16"]}),                               # 15
    ("2010-11-20", {"YOUNG_PEOPLE": ["victim_16_17", "standard_risk"], "MASH_IDVA": ["victim_16_17"]}),
    ("2008-11-21", {"YOUNG_PEOPLE": ["victim_16_17", "standard_risk"], "MASH_IDVA": ["victim_16_17"]}),  # 17
    ("2008-11-20", {"COMMUNITY_ADVOCACY": ["standard_risk"]}),                        # 18 that day
])
def test_the_victim_pathway_changes_on_the_16th_and_18th_birthdays(config, born, expected):
    assert pathways(config, incident(victim__date_of_birth=born, **STANDARD)) == expected


@pytest.mark.parametrize("born, flags, expected", [
    ("2008-11-21", ["adult_at_risk"], None),                        # 17: the young people's service
    ("2010-11-20", ["adult_at_risk"], None),                        # 16
    ("2008-11-20", ["adult_at_risk"], ["adult_at_risk"]),           # 18 that day
    ("1961-11-21", [], None),                                       # 64, 65 tomorrow
    ("1961-11-20", [], ["older_victim"]),                           # 65 that day
    ("1961-11-20", ["adult_at_risk"], ["older_victim", "adult_at_risk"]),
])
def test_adult_safeguarding_is_for_adults_65_or_over_or_at_risk(config, born, flags, expected):
    found = pathways(config, incident(victim__date_of_birth=born, flags=flags, **STANDARD))
    assert found.get("ADULT_SAFEGUARDING") == expected


@pytest.mark.parametrize("born, expected", [
    ("2008-11-21", ["perpetrator_under_18"]),   # 17, 18 tomorrow
    ("2008-11-20", None),                       # exactly 18
])
def test_a_perpetrator_is_a_child_until_the_18th_birthday(config, born, expected):
    found = pathways(config, incident(perpetrator__date_of_birth=born, **STANDARD))
    assert found.get("MASH_IDVA") == expected


def test_a_perpetrator_without_a_date_of_birth_is_taken_as_an_adult(config):
    notification = incident(**STANDARD)
    del notification["perpetrator"]["date_of_birth"]
    assert "MASH_IDVA" not in pathways(config, notification)


def test_the_mash_lists_every_reason_at_once(config):
    found = pathways(config, incident(victim__date_of_birth="2009-06-01", perpetrator__date_of_birth="2010-01-01",
                                      risk=STANDARD["risk"], children=[child("C1")]))
    assert found["MASH_IDVA"] == ["children_in_household", "victim_16_17", "perpetrator_under_18"]


# --- the UK calendar day: 23:30 UTC is already tomorrow in summer, still today in winter --

@pytest.mark.parametrize("reported, born, expected", [
    ("2026-06-18T23:30:00Z", "2010-06-19", "YOUNG_PEOPLE"),        # 00:30 BST on the 16th birthday
    ("2026-11-19T23:30:00Z", "2010-11-20", None),                  # 23:30 GMT, the day before it
])
def test_an_age_is_counted_on_the_uk_day_of_the_report(config, reported, born, expected):
    found = pathways(config, incident(reported_at=reported, occurred_at=None, victim__date_of_birth=born,
                                      **STANDARD))
    assert ("YOUNG_PEOPLE" if "YOUNG_PEOPLE" in found else None) == expected


@pytest.mark.parametrize("reported, expected", [
    ("2026-06-18T23:30:00Z", "2026-06-22T08:00:00Z"),  # Friday 00:30 BST: due Monday 09:00 BST
    ("2026-11-19T23:30:00Z", "2026-11-20T09:00:00Z"),  # Thursday 23:30 GMT: due Friday 09:00
])
def test_working_days_count_from_the_uk_day_of_the_report(config, reported, expected):
    assert due(config, incident(reported_at=reported, occurred_at=None, **NO_CHILDREN), "MARAC") == expected


# --- deadlines -----------------------------------------------------------------------

def test_adult_safeguarding_is_due_24_hours_after_the_report_exactly(config):
    older = incident(victim__date_of_birth="1950-01-01", **STANDARD)
    assert due(config, older, "ADULT_SAFEGUARDING") == "2026-11-21T22:14:00Z"


def test_twenty_four_hours_across_the_clock_change_are_24_real_hours(config):
    older = incident(victim__date_of_birth="1950-01-01", reported_at="2026-10-24T12:00:00Z", occurred_at=None,
                     **STANDARD)
    assert due(config, older, "ADULT_SAFEGUARDING") == "2026-10-25T12:00:00Z"


def test_matac_28_days_keep_the_uk_time_of_day_across_the_clock_change(config):
    """Reported 23:14 BST on 20 October: due 23:14 GMT on 17 November (Knowsley has a MATAC)."""
    history = History(perpetrator=PerpetratorHistory((PerpetratorIncident(
        "merseyside/P-1", "merseyside:MP-P-OTHER", REPORTED - timedelta(days=100), False),)))
    notification = incident(reported_at="2026-10-20T22:14:00Z", occurred_at=None, **KNOWSLEY, **NO_CHILDREN)
    assert due(config, notification, "MATAC", history) == "2026-11-17T23:14:00Z"


def notice(issued: str, expires: str) -> dict:
    return {"type": "DVPN", "issued_at": issued, "expires_at": expires}


def with_notice_hours(config, hours: int):
    area = config.areas["E08000013"].model_copy(update={"protective_notice_hours": hours})
    return config.model_copy(update={"areas": config.areas | {"E08000013": area}})


@pytest.mark.parametrize("expires, reasons, due_at", [
    ("2026-12-20T10:00:00Z", ["standard_risk", "protective_notice"], "2026-11-21T22:14:00Z"),  # 24 hours
    ("2026-11-20T22:14:01Z", ["standard_risk", "protective_notice"], "2026-11-20T22:14:01Z"),  # its expiry
    ("2026-11-20T22:14:00Z", ["standard_risk"], "2026-11-24T09:00:00Z"),  # expired as reported
    ("2026-11-19T22:14:00Z", ["standard_risk"], "2026-11-24T09:00:00Z"),  # expired the day before
])
def test_only_a_notice_in_force_shortens_the_deadline(config, expires, reasons, due_at):
    notification = incident(protective_notice=notice("2026-11-18T10:00:00Z", expires), **STANDARD)
    [decision] = route(config, notification)
    assert (list(decision.reasons), decision.as_route_output()["due_at"]) == (reasons, due_at)


def test_a_protective_notice_never_lengthens_a_deadline(config):
    longer = with_notice_hours(config, 96)  # longer than 2 working days from Friday night
    notification = incident(protective_notice=notice("2026-11-20T10:00:00Z", "2026-12-20T10:00:00Z"), **STANDARD)
    [decision] = route(longer, notification)
    assert decision.reasons == ("standard_risk", "protective_notice")
    assert decision.as_route_output()["due_at"] == "2026-11-24T09:00:00Z"


def test_a_notice_deadline_equal_to_the_usual_one_keeps_the_usual_rule(config):
    """Monday 09:00 to Wednesday 09:00 is both 2 working days and 48 hours."""
    equal = with_notice_hours(config, 48)
    notification = incident(reported_at="2026-11-23T09:00:00Z", occurred_at=None,
                            protective_notice=notice("2026-11-23T08:00:00Z", "2026-12-20T10:00:00Z"), **STANDARD)
    [decision] = route(equal, notification)
    assert decision.as_route_output()["due_at"] == "2026-11-25T09:00:00Z"
    assert decision.explanation[-1].startswith("due Wednesday 25 November 2026 09:00 UK time: 2 working days after")


def test_a_young_persons_referral_is_shortened_by_a_notice_too(config):
    notification = incident(victim__date_of_birth="2009-06-01",
                            protective_notice=notice("2026-11-20T10:00:00Z", "2026-12-20T10:00:00Z"), **STANDARD)
    found = {d.pathway: d.as_route_output()["due_at"] for d in route(config, notification)}
    assert found["YOUNG_PEOPLE"] == "2026-11-21T22:14:00Z" and found["MASH_IDVA"] == "2026-11-23T09:00:00Z"


def test_a_notice_shortens_a_marac_deadline_too(config):
    """Second edition: every victim pathway is due within the notice's 24 hours."""
    notification = incident(protective_notice=notice("2026-11-20T10:00:00Z", "2026-12-20T10:00:00Z"), **NO_CHILDREN)
    found = {d.pathway: (list(d.reasons), d.as_route_output()["due_at"]) for d in route(config, notification)}
    assert found["MARAC"] == (["visible_high_risk"], "2026-11-21T22:14:00Z")


# --- Operation Encompass ---------------------------------------------------------------

@pytest.mark.parametrize("setting, urn, recipient", [
    ("early_years", "104810", "setting-104810"),   # a nursery in the directory
    ("college", "130900", "setting-130900"),
    ("early_years", None, "st-helens-encompass"),  # not in the directory: the fallback
])
def test_every_education_setting_is_told_not_only_schools(config, setting, urn, recipient):
    decisions = route(config, incident(children=[child("C1", setting=setting, urn=urn)]))
    assert [(d.pathway, d.recipient) for d in decisions if d.subject_id == "C1"] == [("ENCOMPASS", recipient)]


def test_a_setting_missing_from_the_directory_is_explained(config):
    decisions = route(config, incident(children=[child("C1", setting="early_years", urn="999999")]))
    [encompass] = [d for d in decisions if d.pathway == "ENCOMPASS"]
    assert encompass.explanation[2] == ("setting_not_in_directory: early_years with URN 999999 is not in the "
                                        "directory: told to St Helens Operation Encompass Coordinator")


def test_a_child_neither_present_nor_resident_is_not_notified(config):
    decisions = route(config, incident(children=[child("C1", present=False, resides_with=[]),
                                                 child("C2", present=False, resides_with=["perpetrator"])]))
    assert [(d.subject_id, d.reasons) for d in decisions if d.pathway == "ENCOMPASS"] == [
        ("C2", ("child_resident",))]
    [mash] = [d for d in decisions if d.pathway == "MASH_IDVA"]
    assert mash.explanation[0] == "children_in_household: 1 child(ren) present or living with either adult: C2"


def test_the_school_is_told_on_the_last_day_of_term(config):
    """Knowsley's autumn half term ends Friday 23 October 2026: a report on the Thursday night."""
    notification = incident(local_authority="E08000011", reported_at="2026-10-22T20:00:00Z", occurred_at=None,
                            children=[child("C1", urn="104500")])
    assert due(config, notification, "ENCOMPASS") == "2026-10-23T08:00:00Z"


# --- MATAC: 3 years of victims, one referral in 12 months (Knowsley's victims) ----------

def against(days_before: int, victim: str, matac: bool = False, at: datetime = REPORTED) -> PerpetratorIncident:
    return PerpetratorIncident(f"merseyside/P-{days_before}-{victim}", f"merseyside:{victim}",
                               at - timedelta(days=days_before), matac)


def matac(config, *earlier: PerpetratorIncident, **changes) -> list:
    history = History(perpetrator=PerpetratorHistory(earlier))
    return [d for d in route(config, incident(**(NO_CHILDREN | KNOWSLEY | changes)), history) if d.pathway == "MATAC"]


def test_an_area_without_a_matac_names_none(config):
    pattern = (against(400, "MP-P-OTHER"), against(200, "MP-P-THIRD"))
    assert [d.recipient for d in matac(config, *pattern)] == ["knowsley-matac"]
    assert not matac(config, *pattern, local_authority="E08000013")  # St Helens


@pytest.mark.parametrize("days_before, referred", [
    (1095, True),   # 21 November 2023
    (1096, True),   # 20 November 2023: three years to the day
    (1097, False),  # 19 November 2023
])
def test_the_matac_window_is_three_calendar_years_to_the_day(config, days_before, referred):
    assert bool(matac(config, against(days_before, "MP-P-OTHER"))) == referred


@pytest.mark.parametrize("days_before, referred", [
    (364, False),   # referred 21 November 2025
    (365, False),   # 20 November 2025: twelve months to the day
    (366, True),    # 19 November 2025: more than twelve months ago
])
def test_matac_refers_a_perpetrator_at_most_once_in_12_months(config, days_before, referred):
    assert bool(matac(config, against(days_before, "MP-P-OTHER", matac=True))) == referred


def test_a_matac_referral_in_the_window_but_for_another_pattern_still_counts_once(config):
    """The referral 100 days ago blocks; the older incidents still make the pattern."""
    assert not matac(config, against(700, "MP-P-OTHER"), against(100, "MP-P-THIRD", matac=True))


@pytest.mark.parametrize("reported, referred_on, referred", [
    ("2028-02-29T12:00:00Z", "2027-02-28T12:00:00Z", False),  # the month has no 29th: its last day
    ("2028-02-29T12:00:00Z", "2027-02-27T12:00:00Z", True),
    ("2027-03-31T12:00:00Z", "2026-03-31T11:00:00Z", False),
    ("2027-03-31T12:00:00Z", "2026-03-30T11:00:00Z", True),
    ("2027-01-15T12:00:00Z", "2026-01-15T12:00:00Z", False),  # across the turn of the year
    ("2027-01-15T12:00:00Z", "2026-01-14T12:00:00Z", True),
])
def test_twelve_months_are_calendar_months(config, reported, referred_on, referred):
    earlier = PerpetratorIncident("merseyside/P-1", "merseyside:MP-P-OTHER", datetime.fromisoformat(referred_on), True)
    assert bool(matac(config, earlier, reported_at=reported, occurred_at=None)) == referred


def test_an_incident_reported_later_is_within_the_window_either_side(config):
    """Incidents reach the perpetrator's history out of order after a restart."""
    assert matac(config, against(-30, "MP-P-OTHER"))


def test_matac_needs_another_victim_and_links_every_incident_of_the_pattern(config):
    assert not matac(config, against(30, "MP-P-88123"), against(60, "MP-P-88123"))
    [referral] = matac(config, against(2000, "MP-P-THIRD"), against(400, "MP-P-OTHER"), against(30, "MP-P-88123"))
    assert referral.linked_incidents == ("merseyside/MP-2026-0004711", "merseyside/P-30-MP-P-88123",
                                         "merseyside/P-400-MP-P-OTHER")
    assert referral.explanation[0] == (
        "serial_perpetrator: recorded against 2 victims within 3 years (incidents of 2025-10-16, 2026-10-21, "
        "2026-11-20); no MATAC referral in the last 12 months")


def test_matac_counts_victims_from_the_areas_setting(config):
    area = config.areas["E08000011"]
    three = area.model_copy(update={"windows": area.windows.model_copy(update={"serial_perpetrator_victims": 3})})
    stricter = config.model_copy(update={"areas": config.areas | {"E08000011": three}})
    assert not matac(stricter, against(400, "MP-P-OTHER"))
    assert matac(stricter, against(400, "MP-P-OTHER"), against(200, "MP-P-THIRD"))
