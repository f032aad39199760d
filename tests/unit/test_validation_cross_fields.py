"""The contract's rules across fields, each at its edge: accepted on one side, refused with
its path and problem on the other."""
import json

import pytest

from referral_hub.core.validation import Problem, Refused, parse_incident
from tests.factories import child, incident

NOTICE = {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-22T22:00:00Z"}


def problems(notification, config) -> dict[str, str]:
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(notification), config)
    return {p.path: p.problem for p in refused.value.problems}


def accepted(notification, config) -> bool:
    return parse_incident(json.dumps(notification), config) is not None


@pytest.mark.parametrize("notification, path, problem", [
    (incident(occurred_at="2026-11-20T22:14:01Z"), "occurred_at", "is after reported_at"),
    (incident(perpetrator__date_of_birth="2026-11-21"), "perpetrator.date_of_birth", "is after reported_at"),
    (incident(victim__date_of_birth="2026-11-21"), "victim.date_of_birth", "is after reported_at"),
    (incident(protective_notice=NOTICE | {"expires_at": "2026-11-19T22:00:00Z"}),
     "protective_notice.expires_at", "is not after issued_at"),
    (incident(protective_notice=NOTICE | {"expires_at": NOTICE["issued_at"]}),
     "protective_notice.expires_at", "is not after issued_at"),
    (incident(children=[child("C1", resides_with=["victim", "victim"])]),
     "children[0].resides_with", "lists the same adult twice"),
    (incident(children=[child("C1"), child("C1", urn="104809")]), "children", "the same person_id appears twice"),
    (incident(children=[child("C1"), child("C2", born="2026-11-21")]),
     "children[1].date_of_birth", "is after reported_at"),
    (incident(children=[child("C1", born="2008-11-20")]),  # 18 that day
     "children[0].date_of_birth", "the child is 18 or over at reported_at; children are under 18"),
])
def test_a_rule_across_fields_refuses_with_its_path_and_problem(config, notification, path, problem):
    assert problems(notification, config) == {path: problem}


@pytest.mark.parametrize("notification", [
    incident(occurred_at="2026-11-20T22:14:00Z"),                 # the moment of the report
    incident(perpetrator__date_of_birth="2026-11-20"),            # born that day (an edge, not a likely case)
    incident(victim__date_of_birth="2026-11-20"),
    incident(protective_notice=NOTICE | {"expires_at": "2026-11-20T22:00:01Z"}),
    incident(children=[child("C1", resides_with=["victim", "perpetrator"]), child("C2")]),
    incident(children=[child("C1", born="2008-11-21")]),          # 17, 18 tomorrow
    incident(children=[child("C1", born="2026-11-20")]),          # born that day
    incident(occurred_at=None, perpetrator__date_of_birth=None),
])
def test_the_other_side_of_each_edge_is_accepted(config, notification):
    assert accepted(notification, config)


@pytest.mark.parametrize("reported, born, accepted_", [
    ("2026-06-18T23:30:00Z", "2026-06-19", True),   # 00:30 BST on 19 June: born that UK day
    ("2026-11-19T23:30:00Z", "2026-11-20", False),  # 23:30 GMT on 19 November: born tomorrow
])
def test_dates_of_birth_are_checked_against_the_uk_day_of_the_report(config, reported, born, accepted_):
    notification = incident(reported_at=reported, occurred_at=None, children=[child("C1", born=born)])
    if accepted_:
        assert accepted(notification, config)
    else:
        assert problems(notification, config) == {"children[0].date_of_birth": "is after reported_at"}


@pytest.mark.parametrize("risk", [
    {"tool": "MERIT", "merit_score": 40},
    {"tool": "MERIT", "merit_grade": "silver"},
    {"tool": "NONE", "officer_grade": "medium"},
    {"tool": "DARA", "officer_grade": "standard"},
    {"tool": "DASH", "dash_yes_count": 0},
])
def test_each_risk_tool_needs_only_its_own_result(config, risk):
    assert accepted(incident(risk=risk), config)


@pytest.mark.parametrize("risk, path, problem", [
    ({"tool": "DASH"}, "risk.dash_yes_count", "is required when risk.tool is DASH"),
    ({"tool": "MERIT"}, "risk.merit_grade", "merit_grade or merit_score is required when risk.tool is MERIT"),
    ({"tool": "DARA"}, "risk.officer_grade", "is required when risk.tool is DARA"),
    ({"tool": "NONE"}, "risk.officer_grade", "is required when risk.tool is NONE"),
])
def test_the_risk_problem_names_what_the_tool_needs(config, risk, path, problem):
    assert problems(incident(risk=risk), config) == {path: problem}


def test_every_problem_is_reported_at_once_in_order(config):
    notification = incident(occurred_at="2026-11-21T00:00:00Z", force="northumbria", local_authority="E08000012",
                            children=[child("C1", resides_with=["victim", "victim"]), child("C1")])
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(notification), config)
    assert [p.as_dict() for p in refused.value.problems] == [
        {"path": "occurred_at", "problem": "is after reported_at"},
        {"path": "children[0].resides_with", "problem": "lists the same adult twice"},
        {"path": "children", "problem": "the same person_id appears twice"},
        {"path": "force", "problem": "is not a configured police force"},
        {"path": "local_authority", "problem": "is not an area this hub serves"}]
    assert str(refused.value) == ("occurred_at: is after reported_at; children[0].resides_with: lists the same "
                                  "adult twice; children: the same person_id appears twice; force: is not a "
                                  "configured police force; local_authority: is not an area this hub serves")


def test_a_nested_field_is_named_by_its_full_path(config):
    notification = incident(children=[child("C1"), child("C2", urn="12")])
    assert problems(notification, config) == {"children[1].education.urn": "String should match pattern '^[0-9]{6,7}$'"}


def test_a_problem_reads_as_path_and_problem():
    assert str(Problem("victim.gender", "is wrong")) == "victim.gender: is wrong"
