"""What the core writes down for others: the referral record, the audit trail of each
disclosure (whose data went where), and how late an open referral is."""
import json
from datetime import UTC, datetime, timedelta

from referral_hub.core.disclosure import audit_record, disclose, subjects
from referral_hub.core.history import History, PerpetratorHistory, PerpetratorIncident
from referral_hub.core.rules import decide
from referral_hub.core.timeliness import days_overdue
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def decided(config, notification=None, history=History()):
    parsed = parse_incident(json.dumps(notification or incident()), config)
    return parsed, decide(parsed, history, config)


def test_a_referral_record_holds_the_decision(config):
    _, [marac, *_] = decided(config)
    assert marac.as_record() == {
        "referral_id": marac.referral_id, "incident_id": "MP-2026-0004711", "force": "merseyside",
        "area": "E08000013", "pathway": "MARAC", "subject_id": "MP-P-88123", "recipient": "st-helens-marac",
        "reasons": ["visible_high_risk"], "reported_at": datetime(2026, 11, 20, 22, 14, tzinfo=UTC),
        "due_at": datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "config_version": config.version,
        "action": "refer", "related_incidents": []}


def test_the_explanation_is_printed_only_when_asked_for(config):
    _, [marac, *_] = decided(config)
    assert "explanation" not in marac.as_route_output()
    assert marac.as_route_output(explain=True)["explanation"] == list(marac.explanation)


def audit(config, pathway: str, notification=None, history=History()) -> dict:
    parsed, decisions = decided(config, notification, history)
    [decision] = [d for d in decisions if d.pathway == pathway][:1]
    record_type, record = disclose(decision, parsed, config)
    return audit_record(record_type, record, "webhook", "https://marac.example.org/hub", AT)


def test_an_audit_entry_names_the_disclosure_and_whose_data_it_held(config):
    entry = audit(config, "MARAC", incident(children=[child("C1"), child("C2", urn="104809")]))
    assert entry | {"disclosure_id": None, "referral_id": None} == {
        "disclosure_id": None, "referral_id": None,
        "police_reference": "Merseyside Police MP-2026-0004711", "pathway": "MARAC", "area": "E08000013",
        "recipient": "st-helens-marac", "channel": "webhook", "destination": "https://marac.example.org/hub",
        "record_type": "recipient-risk", "subjects": ["MP-P-88123", "MP-P-40007", "C1", "C2"], "at": AT}
    assert entry["disclosure_id"].startswith("dsc-") and len(entry["disclosure_id"]) == 28


def test_the_same_disclosure_has_the_same_id_and_another_channel_another(config):
    first, again = audit(config, "MARAC"), audit(config, "MARAC")
    parsed, decisions = decided(config)
    record_type, record = disclose(decisions[0], parsed, config)
    by_email = audit_record(record_type, record, "email", "marac@st-helens.example.org", AT)
    assert first["disclosure_id"] == again["disclosure_id"] != by_email["disclosure_id"]
    idva = audit(config, "IDVA")
    assert idva["disclosure_id"] != first["disclosure_id"]


def test_each_record_type_lists_only_the_people_it_holds(config):
    history = History(perpetrator=PerpetratorHistory((PerpetratorIncident(
        "merseyside/OLD-1", "merseyside:OTHER", datetime(2026, 1, 1, tzinfo=UTC), False),)))
    children = incident(children=[child("C1"), child("C2", urn="104809")])
    assert audit(config, "ENCOMPASS", children)["subjects"] == ["C1"]
    knowsley = children | {"local_authority": "E08000011"}  # St Helens has no MATAC
    assert audit(config, "MATAC", knowsley, history)["subjects"] == ["MP-P-40007"]
    assert audit(config, "MASH_IDVA", children)["subjects"] == ["MP-P-88123", "MP-P-40007", "C1", "C2"]
    standard = incident(risk={"tool": "DASH", "dash_yes_count": 2, "officer_grade": "standard"}, children=[])
    assert audit(config, "COMMUNITY_ADVOCACY", standard)["subjects"] == ["MP-P-88123"]


def test_a_record_without_a_perpetrator_lists_the_victim_only():
    assert subjects({"victim": {"person_id": "V"}, "perpetrator": None}) == ["V"]


def test_days_overdue_count_whole_days_past_the_deadline():
    status = {"due_at": "2026-11-23T09:00:00+00:00"}
    due = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert [days_overdue(status, due + delta) for delta in
            (timedelta(hours=23), timedelta(days=1), timedelta(days=2, hours=1))] == [0, 1, 2]
