"""The explanation of each decision, word for word: it goes to the recipient with the
referral and is printed by `route --explain`, so a fact in it must be right."""
import json
import time
from datetime import datetime, timedelta

import pytest

from referral_hub.core.history import History, PriorIncident, VictimHistory
from referral_hub.core.rules import decide
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

NO_CHILDREN = {"children": []}
DUE_MONDAY = "due Monday 23 November 2026 09:00 UK time: 1 working day after the report (Friday 20 November 2026 22:14)"
DUE_TUESDAY = ("due Tuesday 24 November 2026 09:00 UK time: 2 working days after the report "
               "(Friday 20 November 2026 22:14)")


def explanation(config, notification, pathway, history=History()) -> list[str]:
    decisions = decide(parse_incident(json.dumps(notification), config), history, config)
    return next(list(d.explanation) for d in decisions if d.pathway == pathway)


@pytest.mark.parametrize("risk, first", [
    ({"tool": "DASH", "dash_yes_count": 3, "professional_judgement": True},
     "professional_judgement: the officer asked for MARAC on professional judgement"),
    ({"tool": "DASH", "dash_yes_count": 11, "officer_grade": "high"},
     "professional_judgement: the officer graded the risk high; DASH 11 yes answers (10-13 is medium)"),
    ({"tool": "MERIT", "merit_grade": "gold"}, "visible_high_risk: MERIT gold (high)"),
    ({"tool": "MERIT", "merit_score": 80}, "visible_high_risk: MERIT score 80 (72 or more is high; high)"),
    ({"tool": "DARA", "officer_grade": "high"}, "visible_high_risk: DARA graded high by the officer"),
    ({"tool": "NONE", "officer_grade": "high"}, "professional_judgement: the officer graded the risk high; "
                                                "no risk tool used"),
])
def test_marac_explains_the_criterion_and_the_risk_tools_result(config, risk, first):
    assert explanation(config, incident(risk=risk, **NO_CHILDREN), "MARAC") == [first, DUE_MONDAY]


@pytest.mark.parametrize("risk, first", [
    ({"tool": "DASH", "dash_yes_count": 3},
     "standard_risk: risk standard: DASH 3 yes answers (under 10 is standard); no MARAC criterion this area "
     "acts on holds; the victim consented to a referral"),
    ({"tool": "MERIT", "merit_grade": "bronze", "officer_grade": "medium"},
     "medium_risk: risk medium: MERIT bronze (standard), officer's grade medium; no MARAC criterion this area "
     "acts on holds; the victim consented to a referral"),
])
def test_community_advocacy_explains_the_risk_below_marac_and_the_consent(config, risk, first):
    assert explanation(config, incident(risk=risk, **NO_CHILDREN), "COMMUNITY_ADVOCACY") == [first, DUE_TUESDAY]


def test_a_young_persons_referral_gives_the_age(config):
    lines = explanation(config, incident(victim__date_of_birth="2009-06-01", risk={"tool": "DASH", "dash_yes_count": 3},
                                         **NO_CHILDREN), "YOUNG_PEOPLE")
    assert lines[0] == "victim_16_17: victim aged 17"


def test_an_older_victim_at_risk_is_explained_for_adult_safeguarding(config):
    lines = explanation(config, incident(victim__date_of_birth="1950-01-01", flags=["adult_at_risk"], **NO_CHILDREN),
                        "ADULT_SAFEGUARDING")
    assert lines == ["older_victim: victim aged 76 (65 or over)",
                     "adult_at_risk: the victim has care and support needs (flag adult_at_risk)",
                     "due Saturday 21 November 2026 22:14 UK time: 24 hours after the report "
                     "(Friday 20 November 2026 22:14)"]


def test_an_idva_referral_says_it_goes_with_the_marac_referral(config):
    assert explanation(config, incident(**NO_CHILDREN), "IDVA") == [
        "visible_high_risk: DASH 15 yes answers (14 or more is high)",
        "an IDVA referral goes with every MARAC referral", DUE_MONDAY]


def test_the_mash_hears_of_every_child_and_of_a_victim_aged_16_or_17(config):
    lines = explanation(config, incident(victim__date_of_birth="2009-06-01", children=[child("C1"), child("C2")]),
                        "MASH_IDVA")
    assert lines[:2] == ["children_in_household: 2 child(ren) present or living with either adult: C1, C2",
                         "victim_16_17: victim aged 17"]


def test_a_victim_under_16_is_explained_to_the_mash(config):
    lines = explanation(config, incident(victim__date_of_birth="2012-01-01", perpetrator__date_of_birth="2011-01-01",
                                         **NO_CHILDREN), "MASH_IDVA")
    assert lines[:2] == ["victim_under_16: victim aged 14: under 16, a child protection matter rather than "
                         "domestic abuse in law", "perpetrator_under_18: perpetrator aged 15, the victim's ex-partner: "
                         "abuse in a young person's relationship"]


@pytest.mark.parametrize("the_child, first_lines", [
    (child("C1", resides_with=["victim", "perpetrator"]),
     ["child_present: the child was present at the incident",
      "child_resident: the child lives with the victim and the perpetrator",
      "attends Example Park Primary School (URN 104808): its Key Adult is told"]),
    (child("C1", present=False, setting="home_educated", urn=None),
     ["child_resident: the child lives with the victim",
      "home_educated: home educated: told to St Helens Elective Home Education Team"]),
    (child("C1", present=False, setting="college", urn=None),
     ["child_resident: the child lives with the victim",
      "setting_not_in_directory: college with URN not given is not in the directory: told to St Helens "
      "Operation Encompass Coordinator"]),
])
def test_encompass_explains_why_the_child_and_whom_it_tells(config, the_child, first_lines):
    lines = explanation(config, incident(children=[the_child]), "ENCOMPASS")
    assert lines[:-1] == first_lines
    assert lines[-1] == ("due Monday 23 November 2026 09:00 UK time: the start of the next school day after the "
                         "report (Friday 20 November 2026 22:14)")


def test_a_sixth_incident_is_counted_in_figures(config):
    reported = datetime.fromisoformat("2026-11-20T22:14:00+00:00")
    history = History(VictimHistory(tuple(PriorIncident(f"merseyside/OLD-{d}", reported - timedelta(days=d), False)
                                          for d in (250, 200, 150, 100, 50))))
    lines = explanation(config, incident(risk={"tool": "DASH", "dash_yes_count": 11}, **NO_CHILDREN), "MARAC", history)
    assert lines[0].startswith("potential_escalation: 6th incident in 365 days: 2026-03-15, ")


def test_summer_times_are_explained_in_uk_time(config):
    lines = explanation(config, incident(reported_at="2026-06-18T22:30:00Z", occurred_at=None, **NO_CHILDREN), "MARAC")
    assert lines[-1] == ("due Friday 19 June 2026 09:00 UK time: 1 working day after the report "
                         "(Thursday 18 June 2026 23:30)")


def test_decisions_do_not_depend_on_the_machines_time_zone(config, monkeypatch):
    """A server in another time zone writes the same UTC deadlines and UK-time explanations."""
    notification = incident(reported_at="2026-06-18T22:30:00Z", occurred_at=None, **NO_CHILDREN)
    def outputs() -> list[dict]:
        decisions = decide(parse_incident(json.dumps(notification), config), History(), config)
        return [d.as_route_output(explain=True) for d in decisions]
    here = outputs()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        elsewhere = outputs()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert elsewhere == here and here[0]["due_at"] == "2026-06-19T08:00:00Z"
