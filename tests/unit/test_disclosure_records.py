"""Each recipient record as the core builds it, before any encoding: the webhook and email
channels send what `disclose` builds, so it must hold only its schema's fields."""
import json

from referral_hub.core.disclosure import disclose
from referral_hub.core.history import History
from referral_hub.core.rules import decide
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident
from tests.unit.test_disclosure import SCHEMAS, STANDARD_RISK, everything_incident, schema_paths


def record_paths(record: dict, prefix: str = "") -> list[str]:
    paths = []
    for name, value in record.items():
        if isinstance(value, dict):
            paths += record_paths(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            paths += [path for item in value for path in record_paths(item, f"{prefix}{name}[].")]
        else:
            paths.append(prefix + name)
    return paths


def built(config, notification, history=History()):
    parsed = parse_incident(json.dumps(notification), config)
    return [(d, *disclose(d, parsed, config)) for d in decide(parsed, history, config)]


def test_every_record_holds_only_fields_of_its_schema(config):
    checked = set()
    notice = {"protective_notice": STANDARD_RISK["protective_notice"]}
    for notification in (everything_incident(**notice), everything_incident(**STANDARD_RISK, flags=["adult_at_risk"])):
        for decision, record_type, record in built(config, notification):
            allowed = schema_paths(json.loads((SCHEMAS / f"{record_type}.avsc").read_text()))
            extra = [p for p in record_paths(record)
                     if p not in allowed and not any(a.startswith(p + ".") for a in allowed)]
            assert extra == [], f"{decision.pathway} record holds {extra}"
            checked.add(record_type)
    assert checked == {"recipient-risk", "recipient-support", "recipient-safeguarding", "recipient-encompass"}


def encompass(config, notification) -> dict:
    return next(record for d, t, record in built(config, notification) if t == "recipient-encompass")


def test_a_school_is_told_when_the_incident_happened_or_else_when_it_was_reported(config):
    assert encompass(config, incident())["incident_at"].isoformat() == "2026-11-20T21:50:00+00:00"
    assert encompass(config, incident(occurred_at=None))["incident_at"].isoformat() == "2026-11-20T22:14:00+00:00"


def test_a_setting_not_in_the_directory_is_written_to_at_the_areas_fallback_address(config):
    record = encompass(config, incident(children=[child("C1", setting="early_years", urn="999999")]))
    assert record["key_adult_email"] == "encompass@st-helens.example.org"
    assert record["setting"] == {"urn": "999999", "name": "early_years (not in the directory)"}


def test_the_safeguarding_record_names_the_perpetrator_and_the_households_children(config):
    notification = incident(flags=["adult_at_risk"], children=[child("C1", resides_with=["perpetrator"])])
    record = next(r for d, t, r in built(config, notification) if d.pathway == "ADULT_SAFEGUARDING")
    assert record["perpetrator"]["person_id"] == "MP-P-40007"
    assert record["children"][0] | {"date_of_birth": None} == {
        "person_id": "C1", "given_name": "Robin", "family_name": "Example", "date_of_birth": None,
        "present": True, "resides_with": ["perpetrator"], "related_to": [], "education_setting": "school",
        "urn": "104808"}
