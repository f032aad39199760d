"""A bad notification is refused with every field's path and problem, never its value."""
import json

import pytest

from referral_hub.core.validation import Refused, parse_incident
from tests.factories import EXAMPLE, child, incident


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
    (incident(risk__dash_yes_count=31), "risk.dash_yes_count", "less than or equal to 27"),
    (incident(local_authority="E08000012"), "local_authority", "not an area this hub serves"),
    (incident(force="northumbria"), "force", "not a configured police force"),
    (incident(victim__date_of_birth="2026-11-21"), "victim.date_of_birth", "after reported_at"),
    (incident(children=[child(born="2007-01-01")]), "children[0].date_of_birth", "18 or over"),
    (incident(reported_at="2026-11-20T22:14:00"), "reported_at", "timezone"),
    (incident(victim__gender="woman"), "victim.gender", "'female', 'male'"),
    (incident(risk={"tool": "DASH", "officer_grade": "high"}), "risk.dash_yes_count", "required"),
    (incident(risk={"tool": "MERIT"}), "risk.merit_grade", "required"),
    (incident(risk={"tool": "DARA"}), "risk.officer_grade", "required"),
    (incident(flags=["unknown_flag"]), "flags[0]", "Input should be"),
    (incident(consent_to_share="yes"), "consent_to_share", "valid boolean"),
    (incident(risk__dash_yes_cont=5), "risk.dash_yes_cont", "Extra inputs are not permitted"),
    (incident(victim__postcode="not a postcode"), "victim.postcode", "pattern"),
    (incident(children=[child() | {"related_to": ["victim", "victim"]}]), "children[0].related_to", "twice"),
    (incident(children=[child() | {"related_to": ["mother"]}]), "children[0].related_to[0]", "'victim'"),
    (incident(children=[child() | {"voice": "x" * 2001}]), "children[0].voice", "at most 2000"),
    (incident(location_type="garden"), "location_type", "'victim_home'"),
])
def test_each_bad_field_is_named_with_its_problem(config, notification, path, words):
    found = problems(notification, config)
    assert path in found, found
    assert words in found[path]


def test_the_second_editions_child_and_place_fields_are_optional_and_accepted(config):
    kid = child(present=False, resides_with=[]) | {"related_to": ["perpetrator"], "voice": "seemed quiet"}
    accepted = parse_incident(json.dumps(incident(children=[kid], location_type="public_place")), config)
    assert accepted.children[0].related_to == ["perpetrator"] and accepted.location_type == "public_place"
    assert parse_incident(json.dumps(EXAMPLE), config).location_type is None


def test_a_missing_field_is_named(config):
    notification = incident()
    del notification["incident_id"]
    assert problems(notification, config) == {"incident_id": "Field required"}


def test_every_bad_field_is_reported_at_once(config):
    notification = incident(risk__dash_yes_count=31, victim__gender="woman")
    del notification["incident_id"]
    assert set(problems(notification, config)) == {"incident_id", "risk.dash_yes_count", "victim.gender"}


def test_malformed_json_is_refused_as_a_whole(config):
    found = problems(b'{"incident_id": ', config)
    assert list(found) == ["(body)"] and "Invalid JSON" in found["(body)"]


def test_problems_never_repeat_the_values_sent(config):
    notification = incident(victim__given_name=12345, victim__date_of_birth="2999-01-01",
                            victim__contact__phone="call me maybe", victim__postcode="ZZZZZZZZ",
                            children=[child(born="1990-04-04")])
    text = json.dumps(problems(notification, config))
    for value in ("12345", "2999", "call me maybe", "ZZZZZZZZ", "1990"):
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
