"""The contract's rules across fields, each at its edge: accepted on one side; on the other,
refused with its path and problem where the incident cannot be routed, or else routed with a
data problem naming the path (second edition of the spec)."""
import json

import pytest

from referral_hub.core.validation import Problem, Refused, parse_incident
from tests.factories import child, incident

NOTICE = {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-22T22:00:00Z"}
DUPLICATE_CHILD = ("lists a child already listed with different details: notified once, "
                   "to the area's Encompass coordinator")


def problems(notification, config) -> dict[str, str]:
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(notification), config)
    return {p.path: p.problem for p in refused.value.problems}


def data_problems(notification, config) -> dict[str, str]:
    return {p.path: p.problem for p in parse_incident(json.dumps(notification), config).data_problems}


def accepted(notification, config) -> bool:
    return parse_incident(json.dumps(notification), config) is not None


def test_a_victim_born_after_the_report_refuses_the_notification(config):
    # The age rules need the victim's date of birth: the one cross-field rule that still refuses.
    notification = incident(victim__date_of_birth="2026-11-21")
    assert problems(notification, config) == {"victim.date_of_birth": "is after reported_at"}


@pytest.mark.parametrize("notification, path, problem", [
    (incident(occurred_at="2026-11-20T22:14:01Z"), "occurred_at", "is after reported_at: ignored"),
    (incident(perpetrator__date_of_birth="2026-11-21"), "perpetrator.date_of_birth",
     "is after reported_at: ignored"),
    (incident(protective_notice=NOTICE | {"expires_at": "2026-11-19T22:00:00Z"}),
     "protective_notice.expires_at", "is not after issued_at: the notice is ignored"),
    (incident(protective_notice=NOTICE | {"expires_at": NOTICE["issued_at"]}),
     "protective_notice.expires_at", "is not after issued_at: the notice is ignored"),
    (incident(children=[child("C1", resides_with=["victim", "victim"])]),
     "children[0].resides_with", "lists an unknown or repeated adult: ignored"),
    (incident(children=[child("C1"), child("C1", urn="104809")]), "children[1]", DUPLICATE_CHILD),
    (incident(children=[child("C1"), child("C2", born="2026-11-21")]),
     "children[1].date_of_birth", "is missing or impossible: taken as under 18"),
    (incident(children=[child("C1", born="2008-11-20")]),  # 18 that day
     "children[0].date_of_birth", "the person is 18 or over at reported_at: not a child, no Encompass notice"),
])
def test_a_rule_across_fields_is_a_data_problem_with_its_path(config, notification, path, problem):
    assert data_problems(notification, config) == {path: problem}


def test_a_contradicting_fact_is_dropped_and_the_rest_routed(config):
    notification = incident(occurred_at="2026-11-20T22:14:01Z", perpetrator__date_of_birth="2026-11-21",
                            protective_notice=NOTICE | {"expires_at": NOTICE["issued_at"]})
    parsed = parse_incident(json.dumps(notification), config)
    assert (parsed.occurred_at, parsed.perpetrator.date_of_birth, parsed.protective_notice) == (None, None, None)
    assert parsed.perpetrator.person_id == notification["perpetrator"]["person_id"]


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
    assert data_problems(notification, config) == {}


@pytest.mark.parametrize("reported, born, problems_", [
    ("2026-06-18T23:30:00Z", "2026-06-19", {}),   # 00:30 BST on 19 June: born that UK day
    ("2026-11-19T23:30:00Z", "2026-11-20",        # 23:30 GMT on 19 November: born tomorrow
     {"children[0].date_of_birth": "is missing or impossible: taken as under 18"}),
])
def test_dates_of_birth_are_checked_against_the_uk_day_of_the_report(config, reported, born, problems_):
    notification = incident(reported_at=reported, occurred_at=None, children=[child("C1", born=born)])
    assert data_problems(notification, config) == problems_


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


def test_every_refusal_is_reported_at_once_in_order(config):
    notification = incident(victim__date_of_birth="2026-11-21", risk={"tool": "DASH"},
                            perpetrator__person_id=incident()["victim"]["person_id"],
                            status="withdrawn", force="northumbria")
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(notification), config)
    assert [p.as_dict() for p in refused.value.problems] == [
        {"path": "victim.date_of_birth", "problem": "is after reported_at"},
        {"path": "risk.dash_yes_count", "problem": "is required when risk.tool is DASH"},
        {"path": "perpetrator.person_id", "problem": "is the victim's person id"},
        {"path": "withdrawal_reason", "problem": "is required when status is withdrawn"},
        {"path": "force", "problem": "is not a configured police force"}]
    assert str(refused.value) == ("victim.date_of_birth: is after reported_at; risk.dash_yes_count: is required "
                                  "when risk.tool is DASH; perpetrator.person_id: is the victim's person id; "
                                  "withdrawal_reason: is required when status is withdrawn; "
                                  "force: is not a configured police force")


def test_every_data_problem_is_reported_at_once_in_order(config):
    notification = incident(occurred_at="2026-11-21T00:00:00Z", local_authority="E08000012",
                            children=[child("C1", resides_with=["victim", "victim"]), child("C1")])
    parsed = parse_incident(json.dumps(notification), config)
    assert [(p.path, p.problem) for p in parsed.data_problems] == [
        ("children[0].resides_with", "lists an unknown or repeated adult: ignored"),
        ("children[1]", DUPLICATE_CHILD),
        ("occurred_at", "is after reported_at: ignored")]


def test_a_nested_field_is_named_by_its_full_path(config):
    notification = incident(children=[child("C1"), child("C2", urn="12")])
    assert data_problems(notification, config) == {
        "children[1].education.urn": "is in neither URN form (6 or 7 digits, or two letters and 6 digits): "
                                     "taken as not in the directory"}


def test_a_problem_reads_as_path_and_problem():
    assert str(Problem("victim.gender", "is wrong")) == "victim.gender: is wrong"
