"""A notification that cannot be routed is refused with every field's path and problem; any
other bad field is a data problem on an accepted one. Neither repeats the value sent."""
import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_hub.config import load_config
from referral_hub.core.validation import Refused, parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import EXAMPLE, child, incident

CONFIG = load_config(REPO_ROOT / "config")


def problems(notification, config) -> dict[str, str]:
    raw = notification if isinstance(notification, (bytes, str)) else json.dumps(notification)
    with pytest.raises(Refused) as refused:
        parse_incident(raw, config)
    return {p.path: p.problem for p in refused.value.problems}


def test_the_spec_example_is_accepted(config):
    accepted = parse_incident(json.dumps(EXAMPLE), config)
    assert accepted.reference == "merseyside/MP-2026-0004711"
    assert accepted.key == "merseyside:MP-P-88123"


@pytest.mark.parametrize("notification, path, words", [
    (incident(incident_id=""), "incident_id", "at least 1 character"),
    (incident(schema_version=2), "schema_version", "Input should be 1"),
    (incident(version=0), "version", "greater than or equal to 1"),
    (incident(status="deleted"), "status", "'current' or 'withdrawn'"),
    (incident(status="withdrawn", version=2), "withdrawal_reason", "required when status is withdrawn"),
    (incident(risk__dash_yes_count=31, risk__officer_grade=None), "risk.dash_yes_count",
     "less than or equal to 27"),
    (incident(local_authority="E08000012x"), "local_authority", "pattern"),
    (incident(force="northumbria"), "force", "not a configured police force"),
    (incident(victim__date_of_birth="2026-11-21"), "victim.date_of_birth", "after reported_at"),
    (incident(victim__person_id=""), "victim.person_id", "at least 1 character"),
    (incident(perpetrator__person_id="MP-P-88123"), "perpetrator.person_id", "the victim's person id"),
    (incident(reported_at="2026-11-20T22:14:00"), "reported_at", "timezone"),
    (incident(risk={"tool": "DASH", "officer_grade": None}), "risk.dash_yes_count", "required"),
    (incident(risk={"tool": "MERIT"}), "risk.merit_grade", "required"),
    (incident(risk={"tool": "DARA"}), "risk.officer_grade", "required"),
])
def test_what_cannot_be_routed_is_refused_with_its_field_and_problem(config, notification, path, words):
    found = problems(notification, config)
    assert path in found, found
    assert words in found[path]


def test_the_second_editions_child_and_place_fields_are_optional_and_accepted(config):
    kid = child(present=False, resides_with=[]) | {"related_to": ["perpetrator"], "voice": "seemed quiet"}
    accepted = parse_incident(json.dumps(incident(children=[kid], location_type="public_place")), config)
    assert accepted.children[0].related_to == ["perpetrator"] and accepted.location_type == "public_place"
    assert parse_incident(json.dumps(EXAMPLE), config).location_type is None


def accepted(notification, config):
    return parse_incident(json.dumps(notification), config)


def data_problems(notification, config) -> dict[str, str]:
    return {p.path: p.problem for p in accepted(notification, config).data_problems}


@pytest.mark.parametrize("notification, path, words", [
    (incident(risk__dash_yes_count=31), "risk.dash_yes_count", "the officer's grade is used"),
    (incident(victim__gender="woman"), "victim.gender", "taken as unknown"),
    (incident(perpetrator__relationship="neighbour"), "perpetrator.relationship", "taken as other"),
    (incident(flags=["unknown_flag", "separation"]), "flags[0]", "not a known flag"),
    (incident(location_type="garden"), "location_type", "not a known location type"),
    (incident(risk__officer_grade="very high"), "risk.officer_grade", "not a known grade"),
    (incident(consent_to_share="yes"), "consent_to_share", "taken as false"),
    (incident(risk__dash_yes_cont=5), "risk.dash_yes_cont", "Extra inputs are not permitted"),
    (incident(victim__postcode="not a postcode"), "victim.postcode", "not passed on"),
    (incident(victim__contact__phone="0151 443"), "victim.contact.phone", "not passed on"),
    (incident(victim__contact__email="anne.example.org"), "victim.contact.email", "not passed on"),
    (incident(occurred_at="2026-11-21T01:00:00Z"), "occurred_at", "after reported_at"),
    (incident(children=[child(born="2007-01-01")]), "children[0].date_of_birth", "18 or over"),
    (incident(children=[child(born="2030-01-01")]), "children[0].date_of_birth", "taken as under 18"),
    (incident(children=[child(person_id="MP-P-88123")]), "children[0].person_id", "victim's or the perpetrator's"),
    (incident(children=[child(), child()]), "children[1]", "notified once"),
    (incident(children=[child(), child(present=False)]), "children[1]", "different details"),
    (incident(children=[child(setting="boarding")]), "children[0].education", "Encompass coordinator"),
    (incident(children=[child(urn="12-34")]), "children[0].education.urn", "neither URN form"),
    (incident(children=[child(urn=None)]), "children[0].education.urn", "missing"),
    (incident(children=["Sam"]), "children[0]", "not an object"),
    (incident(children=[child() | {"related_to": ["victim", "victim"]}]), "children[0].related_to", "repeated adult"),
    (incident(children=[child() | {"related_to": ["mother"]}]), "children[0].related_to", "unknown or repeated"),
    (incident(children=[child() | {"voice": "x" * 2001}]), "children[0].voice", "at most 2000"),
])
def test_any_other_bad_field_is_a_data_problem_on_an_accepted_notification(config, notification, path, words):
    found = data_problems(notification, config)
    assert path in found, found
    assert words in found[path]


@pytest.mark.parametrize("sent, kept", [
    ("0151-443 2610", "+441514432610"), ("(0151) 443 2610", "+441514432610"),
    ("+44 (0)7700 900123", "+447700900123"), ("07700900123", "+447700900123"),
])
def test_phones_in_common_uk_forms_are_normalised_without_comment(config, sent, kept):
    incident_ = accepted(incident(victim__contact__phone=sent), config)
    assert incident_.victim.contact.phone == kept and incident_.data_problems == ()


@pytest.mark.parametrize("sent, kept", [("wa10 1aa ", "WA10 1AA"), ("WA101AA", "WA10 1AA"), ("WA10", "WA10")])
def test_postcodes_are_normalised_without_comment(config, sent, kept):
    incident_ = accepted(incident(victim__postcode=sent), config)
    assert incident_.victim.postcode == kept and incident_.data_problems == ()


def test_urns_are_upper_cased_and_ofsted_numbers_accepted_without_comment(config):
    incident_ = accepted(incident(children=[child(setting="early_years", urn="ey123456")]), config)
    assert incident_.children[0].education.urn == "EY123456" and incident_.data_problems == ()


def test_an_absent_grade_beside_a_usable_tool_result_is_normal(config):
    assert accepted(incident(risk__officer_grade=None), config).data_problems == ()


def test_a_report_from_more_than_an_hour_ahead_is_refused(config):
    received = datetime(2026, 11, 20, 21, 13, tzinfo=UTC)
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(incident()), config, received_at=received)
    assert [p.path for p in refused.value.problems] == ["reported_at"]
    assert parse_incident(json.dumps(incident()), config, received_at=received + timedelta(minutes=1))


@pytest.mark.parametrize("raw, path", [(b'{"incident_id": "a", "incident_id": "b"}', "incident_id"),
                                       (b'{"a": "\\u0000"}', "a"), (b'{"a": NaN}', "(body)"),
                                       (b'\xff', "(body)")])
def test_what_is_not_json_text_is_refused_whole(config, raw, path):
    assert list(problems(raw, config)) == [path]


def test_a_missing_field_is_named(config):
    notification = incident()
    del notification["incident_id"]
    assert problems(notification, config) == {"incident_id": "Field required"}


def test_every_refusing_field_is_reported_at_once(config):
    notification = incident(risk__dash_yes_count=31, risk__officer_grade=None, version=0)
    del notification["incident_id"]
    assert set(problems(notification, config)) == {"incident_id", "risk.dash_yes_count", "version"}


def test_malformed_json_is_refused_as_a_whole(config):
    found = problems(b'{"incident_id": ', config)
    assert list(found) == ["(body)"] and "Invalid JSON" in found["(body)"]


def test_problems_never_repeat_the_values_sent(config):
    notification = incident(victim__given_name=12345, victim__contact__phone="call me maybe",
                            victim__postcode="ZZZZZZZZ", children=[child(born="1990-04-04")],
                            flags=["Anne's secret"], location_type="12 Example Street")
    text = json.dumps(data_problems(notification, config))
    for value in ("12345", "call me maybe", "ZZZZZZZZ", "1990", "secret", "Example Street"):
        assert value not in text


def _text(notification: dict) -> str:
    return json.dumps(notification, indent=1)


@pytest.mark.parametrize("raw, path, words", [
    # the same name twice, at the top and deep inside: parsers differ on which value wins
    (_text(incident()).replace('"force":', '"force": "cheshire", "force":', 1),
     "force", "more than once"),
    (_text(incident()).replace('"dash_yes_count":', '"dash_yes_count": 3, "dash_yes_count":', 1),
     "risk.dash_yes_count", "more than once"),
    (_text(incident(children=[child()])).replace('"present": true', '"present": true, "present": false'),
     "children[0].present", "more than once"),
    (_text(incident()).replace('"MP-2026-0004711"', '"MP-2026\\u0000-0004711"'), "incident_id", "NUL"),
    (_text(incident()).replace('"force"', '"fo\\u0000rce"'), "(body)", "name with a NUL"),
    (_text(incident()).encode().replace(b'"force"', b'"force"\x00'), "(body)", "NUL"),
])
def test_json_text_with_repeated_names_or_nul_is_refused_whole(config, raw, path, words):
    found = problems(raw, config)
    assert list(found) == [path] and words in found[path], found


@pytest.mark.parametrize("incident_id", ["MP 2026", "MP-2026\n{\"level\": \"error\"}", "MP-é", "x" * 65, "a;b"])
def test_an_incident_id_outside_its_character_set_is_refused(config, incident_id):
    found = problems(incident(incident_id=incident_id), config)
    assert list(found) == ["incident_id"]
    assert incident_id not in found["incident_id"]


def test_an_incident_id_may_use_letters_digits_and_the_separators(config):
    assert parse_incident(json.dumps(incident(incident_id="MP/2026:04.711_a-B")), config)


    refused = json.dumps(problems(incident(victim__date_of_birth="2999-01-01"), config))
    assert "2999" not in refused


BAD_FIELDS = {"victim__gender": "woman", "victim__contact__phone": "12", "victim__postcode": "??",
              "flags": ["separation", "bogus"], "perpetrator__relationship": "lodger",
              "risk__officer_grade": "extreme", "location_type": "moon",
              "children": [child(born="1999-01-01"), child(person_id="MP-P-X", urn="??")]}


@pytest.mark.parametrize("field", sorted(BAD_FIELDS))
def test_a_data_problem_never_removes_a_victim_pathway(config, field):
    from referral_hub.commands.route import OfflineRouter
    victim_pathways = {"MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE", "ADULT_SAFEGUARDING"}
    for risk in ({"tool": "DASH", "dash_yes_count": 15}, {"tool": "DASH", "dash_yes_count": 4}):
        good = incident(risk=risk)
        bad = incident(risk=risk, **{field: BAD_FIELDS[field]})
        made = {d.pathway for d in OfflineRouter(config).route(accepted(good, config))}
        with_problem = {d.pathway for d in OfflineRouter(config).route(accepted(bad, config))}
        assert made & victim_pathways <= with_problem


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 40) | st.text(max_size=12)
                           | st.sampled_from(["2026-11-20T22:14:00Z", "2007-01-01", "EY123456", "E08000012"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
FIELDS = ["incident_id", "local_authority", "reported_at", "occurred_at", "victim", "victim.contact",
          "victim.contact.phone", "victim.postcode", "victim.gender", "perpetrator", "perpetrator.person_id",
          "perpetrator.date_of_birth", "risk", "risk.tool", "risk.dash_yes_count", "risk.officer_grade", "flags",
          "protective_notice", "children", "children.0", "children.0.education", "children.0.date_of_birth",
          "children.0.resides_with", "consent_to_share", "version", "status", "sent_at", "location_type"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), JSON_VALUES), min_size=1, max_size=3))
def test_any_notification_is_refused_with_reasons_or_accepted_and_routed(changes):
    """Never an error in between: whatever a sender types, the hub refuses it with field
    problems or routes what is valid."""
    from referral_hub.commands.route import OfflineRouter
    notification = copy.deepcopy(EXAMPLE)
    for dotted, value in changes:
        *parents, last = dotted.split(".")
        target = notification
        for part in parents:
            target = target[int(part)] if isinstance(target, list) and part.isdigit() and int(part) < len(target) \
                else target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[last] = value
    try:
        incident_ = parse_incident(json.dumps(notification), CONFIG)
    except Refused as refused:
        assert refused.problems
        return
    OfflineRouter(CONFIG).route(incident_)
