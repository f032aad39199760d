"""No recipient receives a field it is not entitled to (schemas/avro/DISCLOSURE.md)."""
import json
import re

import pytest

from referral_hub.adapters.avro import AvroCodec
from referral_hub.core.disclosure import RECORD_TYPES, disclose
from referral_hub.core.history import History, PerpetratorHistory, PerpetratorIncident
from referral_hub.core.rules import decide
from referral_hub.settings import REPO_ROOT
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

SCHEMAS = REPO_ROOT / "schemas" / "avro"
POLICY = (SCHEMAS / "DISCLOSURE.md").read_text()


def allowed(record_type: str) -> list[str]:
    header = re.search(r"```fields header\n(.*?)```", POLICY, re.S).group(1).split()
    own = re.search(rf"```fields {record_type}\n(.*?)```", POLICY, re.S).group(1).split()
    return header + own


def schema_paths(schema: dict, prefix: str = "") -> list[str]:
    paths = []
    for field in schema["fields"]:
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        record = next((t for t in types if isinstance(t, dict) and t.get("type") == "record"), None)
        array = next((t for t in types if isinstance(t, dict) and t.get("type") == "array"
                      and isinstance(t["items"], dict)), None)
        name = prefix + field["name"]
        paths += schema_paths(record, name + ".") if record else \
            schema_paths(array["items"], name + "[].") if array else [name]
    return paths


@pytest.mark.parametrize("record_type", sorted(set(RECORD_TYPES.values())))
def test_each_schema_holds_exactly_what_the_policy_allows(record_type):
    schema = json.loads((SCHEMAS / f"{record_type}.avsc").read_text())
    assert schema_paths(schema) == allowed(record_type)
    assert schema["fields"][0]["name"] == "victim_safe_to_contact"  # the flag comes first


# Distinctive values, to find anywhere in an encoded record.
VICTIM_PHONE, POSTCODE, PERPETRATOR, SIBLING = "07700900555", "WA10 7QQ", "MP-P-PERP-77", "Zebediah"
NOTES, REASON = "only via her sister", "threatened with a hammer"
VOICE, SIBLING_VOICE = "said she was scared of the shouting", "hid under the stairs"


def everything_incident(**changes):
    return incident(**{
        "local_authority": "E08000011",  # Knowsley: it has a MATAC and a stalking service
        "victim__postcode": POSTCODE, "flags": ["stalking"], "location_type": "shared_home",
        "victim__contact": {"phone": VICTIM_PHONE, "safe_to_contact": False, "safe_contact_notes": NOTES},
        "perpetrator__person_id": PERPETRATOR,
        "risk": {"tool": "DASH", "dash_yes_count": 23, "officer_grade": "high",
                 "professional_judgement": True, "professional_judgement_reason": REASON},
        "children": [child("MP-P-C1", urn="104808") | {"voice": VOICE, "related_to": ["victim"]},
                     child("MP-P-C2", urn="104809") | {"given_name": SIBLING, "voice": SIBLING_VOICE}],
    } | changes)


# Below MARAC the victim goes to community advocacy, whose record is the support record.
STANDARD_RISK = {"risk": {"tool": "DASH", "dash_yes_count": 3, "officer_grade": "standard"},
                 "protective_notice": {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z",
                                       "expires_at": "2026-11-22T22:00:00Z"}}


def records(config, notification=None):
    parsed = parse_incident(json.dumps(notification or everything_incident()), config)
    history = History(perpetrator=PerpetratorHistory((PerpetratorIncident(
        "merseyside/OLD-1", "merseyside:OTHER", parsed.reported_at, False),)))
    codec = AvroCodec(SCHEMAS)
    for decision in decide(parsed, history, config):
        record_type, record = disclose(decision, parsed, config)
        encoded = codec.encode(record_type, record)  # only the schema's fields survive encoding
        yield decision, record_type, codec.decode(record_type, encoded)


def test_every_pathway_of_a_full_incident_gets_its_own_record_type(config):
    assert sorted((d.pathway, t) for d, t, _ in records(config)) == [
        ("ENCOMPASS", "recipient-encompass"), ("ENCOMPASS", "recipient-encompass"),
        ("IDVA", "recipient-risk"), ("MARAC", "recipient-risk"),
        ("MASH_IDVA", "recipient-safeguarding"), ("MATAC", "recipient-matac"),
        ("SPECIALIST", "recipient-support")]


FORBIDDEN = {
    "recipient-encompass": [PERPETRATOR, POSTCODE, VICTIM_PHONE, NOTES, REASON, "Anne", "dash_yes_count",
                            "stalking"],
    "recipient-matac": [POSTCODE, VICTIM_PHONE, NOTES, REASON, "Anne", "Sam", SIBLING, VOICE],
    "recipient-support": [PERPETRATOR, POSTCODE, REASON, SIBLING, VOICE, SIBLING_VOICE],
    "recipient-safeguarding": [REASON, VOICE, SIBLING_VOICE],
    "recipient-risk": [VOICE, SIBLING_VOICE],  # the child's words are for the school alone
}


def test_a_standard_risk_incident_gets_a_support_record(config):
    """Without a MARAC referral, the community service and the stalking service (SPECIALIST) both get one."""
    supports = [r for d, t, r in records(config, everything_incident(**STANDARD_RISK)) if t == "recipient-support"]
    assert [(r["pathway"], r["risk_level"], r["consent_to_share"]) for r in supports] == [
        ("COMMUNITY_ADVOCACY", "standard", True), ("SPECIALIST", "standard", True)]
    for support in supports:
        assert support["protective_notice"]["type"] == "DVPN" and support["victim"]["given_name"] == "Anne"


def test_no_record_carries_what_its_recipient_may_not_see(config):
    checked = set()
    for notification in (everything_incident(), everything_incident(**STANDARD_RISK)):
        for decision, record_type, record in records(config, notification):
            text = json.dumps(record, default=str)
            for value in FORBIDDEN.get(record_type, []):
                assert value not in text, f"{decision.pathway} record holds {value!r}"
            assert record["victim_safe_to_contact"] is False
            checked.add(record_type)
    assert checked >= set(FORBIDDEN)  # every row of FORBIDDEN was tried


def test_a_schools_notification_names_only_its_own_child(config):
    for decision, record_type, record in records(config):
        if record_type == "recipient-encompass":
            assert record["child"]["person_id"] == decision.subject_id
            others = {"MP-P-C1", "MP-P-C2"} - {decision.subject_id}
            assert not any(other in json.dumps(record, default=str) for other in others)
            own, other = (VOICE, SIBLING_VOICE) if decision.subject_id == "MP-P-C1" else (SIBLING_VOICE, VOICE)
            assert record["child_voice"] == own and other not in json.dumps(record, default=str)


def test_a_schools_notification_says_when_where_and_whether_to_contact_the_parent(config):
    notices = [r for _, t, r in records(config) if t == "recipient-encompass"]
    assert {r["location_type"] for r in notices} == {"shared_home"}
    assert all(r["parent_contact"].startswith("Do not contact the parent about this.") for r in notices)
    assert all(r["child_present"] and r["incident_at"].isoformat() == "2026-11-20T21:50:00+00:00"
               for r in notices)


def test_every_victim_pathways_record_carries_the_flags(config):
    victim_records = [(d.pathway, r) for d, t, r in records(config)
                      if t in ("recipient-risk", "recipient-support", "recipient-safeguarding")]
    assert {p for p, _ in victim_records} == {"MARAC", "IDVA", "MASH_IDVA", "SPECIALIST"}
    assert all(r["flags"] == ["stalking"] for _, r in victim_records)
