"""Each record type in full, field by field, as its recipient receives it
(schemas/avro/DISCLOSURE.md): what a MARAC, a support service, a safeguarding team, a
school and MATAC are told, a recall, and the audit entry of each disclosure."""
import json
from datetime import UTC, date, datetime

import pytest

from referral_hub.core.disclosure import audit_record, disclose, parent_contact
from referral_hub.core.history import History, PerpetratorHistory, PerpetratorIncident
from referral_hub.core.rules import decide
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

REPORTED = datetime(2026, 11, 20, 22, 14, tzinfo=UTC)
OCCURRED = datetime(2026, 11, 20, 21, 50, tzinfo=UTC)
VICTIM = {"person_id": "MP-P-88123", "given_name": "Anne", "family_name": "Example",
          "date_of_birth": date(1991, 3, 2), "gender": "female",
          "contact": {"phone": "+447700900123", "email": None, "safe_to_contact": True,
                      "safe_contact_notes": "mobile only, after 10:00"}}
PERPETRATOR = {"person_id": "MP-P-40007", "date_of_birth": date(1988, 7, 19), "gender": "male",
               "relationship": "ex_partner"}
SAM = {"person_id": "MP-P-90001", "given_name": "Sam", "family_name": "Example",
       "date_of_birth": date(2016, 9, 14)}
NOTICE = {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-22T22:00:00Z"}
NOTICE_RECORD = {"type": "DVPN", "issued_at": datetime(2026, 11, 20, 22, tzinfo=UTC),
                 "expires_at": datetime(2026, 11, 22, 22, tzinfo=UTC)}
MEDIUM_RISK = {"tool": "DASH", "dash_yes_count": 10}  # 10-13 yes answers: medium in every area
POLICE_REFERENCE = "Merseyside Police MP-2026-0004711"
DO_NOT_CONTACT = ("Do not contact the parent about this. Contacting them could put them at risk; "
                  "speak to your Designated Safeguarding Lead instead.")


def records(config, notification, history=History()) -> dict[str, list[tuple]]:
    """pathway -> [(decision, record type, record)]."""
    parsed = parse_incident(json.dumps(notification), config)
    made: dict[str, list[tuple]] = {}
    for decision in decide(parsed, history, config):
        made.setdefault(decision.pathway, []).append((decision, *disclose(decision, parsed, config)))
    return made


def only(config, notification, pathway, history=History()) -> tuple:
    [made] = records(config, notification, history)[pathway]
    return made


def header(decision) -> dict:
    """What every record starts with, from the decision it discloses."""
    return {"referral_id": decision.referral_id, "pathway": decision.pathway, "area": decision.area,
            "recipient": decision.recipient, "reasons": list(decision.reasons),
            "explanation": list(decision.explanation), "police_reference": POLICE_REFERENCE,
            "reported_at": REPORTED, "due_at": decision.due_at, "action": "refer"}


def test_a_marac_is_sent_the_whole_risk_picture(config):
    notification = incident(protective_notice=NOTICE, risk__professional_judgement_reason="fear of escalation")
    decision, record_type, record = only(config, notification, "MARAC")
    assert record_type == "recipient-risk"
    assert record == header(decision) | {
        "victim_safe_to_contact": True, "reasons": ["visible_high_risk"], "recipient": "st-helens-marac",
        "area": "E08000013",
        "victim": VICTIM | {"postcode": "WA10 1AA"}, "perpetrator": PERPETRATOR,
        "risk": {"tool": "DASH", "dash_yes_count": 15, "merit_score": None, "merit_grade": None,
                 "officer_grade": "high", "professional_judgement": False,
                 "professional_judgement_reason": "fear of escalation", "level": "high"},
        "flags": ["non_fatal_strangulation", "separation"], "protective_notice": NOTICE_RECORD,
        "children": [SAM | {"present": True}], "consent_to_share": True, "occurred_at": OCCURRED,
        "related_incidents": []}


def test_a_risk_record_without_a_perpetrator_or_a_notice_says_none(config):
    notification = incident(perpetrator=None, occurred_at=None, risk={"tool": "DASH", "dash_yes_count": 14})
    _, _, record = only(config, notification, "IDVA")
    assert (record["perpetrator"], record["protective_notice"], record["occurred_at"]) == (None, None, None)
    assert record["risk"]["level"] == "high"


def test_a_community_service_is_sent_contact_details_the_level_and_the_notice(config):
    notification = incident(risk=MEDIUM_RISK, protective_notice=NOTICE, flags=["pregnancy"])
    decision, record_type, record = only(config, notification, "COMMUNITY_ADVOCACY")
    assert record_type == "recipient-support"
    assert record == header(decision) | {
        "victim_safe_to_contact": True, "victim": VICTIM, "risk_level": "medium", "consent_to_share": True,
        "protective_notice": NOTICE_RECORD, "flags": ["pregnancy"], "related_incidents": []}


def test_a_young_persons_service_is_sent_the_support_record_without_a_notice(config):
    notification = incident(risk={"tool": "DASH", "dash_yes_count": 9}, victim__date_of_birth="2009-11-20",
                            flags=[])
    decision, record_type, record = only(config, notification, "YOUNG_PEOPLE")
    assert record_type == "recipient-support"
    assert (record["risk_level"], record["protective_notice"], record["flags"]) == ("standard", None, [])
    assert record["victim"]["date_of_birth"] == date(2009, 11, 20) and "postcode" not in record["victim"]


def test_a_safeguarding_team_is_sent_the_household(config):
    kid = child("C1", present=False, resides_with=["perpetrator"], setting="early_years", urn="EY123456") \
        | {"related_to": ["perpetrator"], "voice": "quiet"}
    notification = incident(risk=MEDIUM_RISK, flags=["adult_at_risk"], children=[kid])
    decision, record_type, record = only(config, notification, "ADULT_SAFEGUARDING")
    assert record_type == "recipient-safeguarding"
    assert record == header(decision) | {
        "victim_safe_to_contact": True, "victim": VICTIM | {"postcode": "WA10 1AA"}, "perpetrator": PERPETRATOR,
        "risk_level": "medium", "flags": ["adult_at_risk"], "related_incidents": [],
        "children": [{"person_id": "C1", "given_name": "Robin", "family_name": "Example",
                      "date_of_birth": date(2015, 5, 5), "present": False, "resides_with": ["perpetrator"],
                      "related_to": ["perpetrator"], "education_setting": "early_years", "urn": "EY123456"}]}


@pytest.mark.parametrize("safe_to_contact, words", [
    (True, "You may contact the parent as you usually would."), (False, DO_NOT_CONTACT)])
def test_a_school_is_told_whether_it_may_contact_the_parent(config, safe_to_contact, words):
    assert parent_contact(safe_to_contact) == words
    notification = incident(victim__contact__safe_to_contact=safe_to_contact)
    _, _, record = only(config, notification, "ENCOMPASS")
    assert (record["victim_safe_to_contact"], record["parent_contact"]) == (safe_to_contact, words)


def test_a_school_in_the_directory_is_sent_one_childs_notice_at_its_key_adults_address(config, area_guidance):
    notification = incident(location_type="victim_home",
                            children=[SAM_ENTRY | {"voice": "hid upstairs"}])
    decision, record_type, record = only(config, notification, "ENCOMPASS")
    assert record_type == "recipient-encompass"
    assert record == header(decision) | {
        "victim_safe_to_contact": True, "recipient": "setting-104808", "child": SAM, "child_present": True,
        "incident_at": OCCURRED, "location_type": "victim_home", "child_voice": "hid upstairs",
        "parent_contact": "You may contact the parent as you usually would.",
        "setting": {"urn": "104808", "name": "Example Park Primary School"},
        "key_adult_email": "key.adult@example-park-primary.example.org", "guidance": area_guidance}


def test_a_setting_without_a_urn_is_named_by_its_kind_at_the_coordinators_address(config):
    notification = incident(children=[child("C1", setting="college", urn=None)])
    _, _, record = only(config, notification, "ENCOMPASS")
    assert record["setting"] == {"urn": None, "name": "college (not in the directory)"}
    assert record["key_adult_email"] == "encompass@st-helens.example.org"


SAM_ENTRY = {"person_id": "MP-P-90001", "given_name": "Sam", "family_name": "Example", "date_of_birth": "2016-09-14",
             "present": True, "resides_with": ["victim"], "education": {"setting": "school", "urn": "104808"}}


@pytest.fixture
def area_guidance(config) -> str:
    return config.areas["E08000013"].encompass_guidance


def test_matac_is_sent_the_perpetrator_and_the_incidents_of_the_pattern(config):
    history = History(perpetrator=PerpetratorHistory((PerpetratorIncident(
        "merseyside/OLD-1", "merseyside:OTHER", datetime(2026, 1, 5, tzinfo=UTC), False),)))
    notification = incident(local_authority="E08000011", victim__contact__safe_to_contact=False)
    decision, record_type, record = only(config, notification, "MATAC", history)
    assert record_type == "recipient-matac"
    assert record == header(decision) | {
        "victim_safe_to_contact": False, "perpetrator": PERPETRATOR,
        "linked_incidents": ["merseyside/MP-2026-0004711", "merseyside/OLD-1"]}


def test_a_victim_outside_the_partnership_is_passed_on_with_the_risk_picture(config):
    decision, record_type, record = only(config, incident(local_authority="E08000012", risk=MEDIUM_RISK),
                                         "OUT_OF_AREA")
    assert (record_type, record["recipient"], record["risk"]["level"]) == \
        ("recipient-risk", "merseyside-out-of-area", "medium")


def test_a_recall_names_the_referral_and_why_and_nothing_personal(config):
    parsed = parse_incident(json.dumps(incident()), config)
    [marac, *_] = decide(parsed, History(), config)
    recall = marac.__class__(**{**marac.__dict__, "action": "recall", "reasons": ("wrong_person",)})
    assert disclose(recall, parsed, config) == ("recipient-recall", {
        "referral_id": marac.referral_id, "action": "recall", "pathway": "MARAC", "area": "E08000013",
        "recipient": "st-helens-marac", "reason": "wrong_person", "police_reference": POLICE_REFERENCE,
        "reported_at": REPORTED, "due_at": marac.due_at})


def test_an_amendment_is_the_recipients_own_record_type_marked_amend(config):
    parsed = parse_incident(json.dumps(incident()), config)
    [marac, *_] = decide(parsed, History(), config)
    amend = marac.__class__(**{**marac.__dict__, "action": "amend"})
    record_type, record = disclose(amend, parsed, config)
    assert (record_type, record["action"], record["referral_id"]) == ("recipient-risk", "amend", marac.referral_id)


AT = datetime(2026, 11, 21, 8, tzinfo=UTC)


@pytest.mark.parametrize("pathway, subjects", [
    ("MARAC", ["MP-P-88123", "MP-P-40007", "MP-P-90001"]),
    ("ENCOMPASS", ["MP-P-90001"]),
    ("MASH_IDVA", ["MP-P-88123", "MP-P-40007", "MP-P-90001"]),
])
def test_an_audit_entry_names_the_disclosure_and_each_person_whose_data_went(config, pathway, subjects):
    decision, record_type, record = only(config, incident(), pathway)
    entry = audit_record(record_type, record, "email", "someone@example.org", AT)
    assert entry == {
        "disclosure_id": entry["disclosure_id"], "referral_id": decision.referral_id,
        "police_reference": POLICE_REFERENCE, "pathway": pathway, "area": "E08000013",
        "recipient": decision.recipient, "channel": "email", "destination": "someone@example.org",
        "record_type": record_type, "subjects": subjects, "at": AT}


def test_a_disclosure_id_is_the_same_for_the_same_referral_recipient_and_channel(config):
    _, record_type, record = only(config, incident(), "MARAC")
    ids = {channel: audit_record(record_type, record, channel, "x", AT)["disclosure_id"]
           for channel in ("email", "webhook")}
    again = audit_record(record_type, record, "email", "elsewhere", datetime(2027, 1, 1, tzinfo=UTC))
    assert again["disclosure_id"] == ids["email"] != ids["webhook"]
    assert all(i.startswith("dsc-") and len(i) == 28 and int(i[4:], 16) >= 0 for i in ids.values())


def test_a_disclosure_id_never_changes_between_releases(config):
    """The audit trail knows a disclosure again by its id (a redelivery is the same disclosure):
    the spec's example to St Helens MARAC by email, sha256 of referral|recipient|channel."""
    decision, record_type, record = only(config, incident(), "MARAC")
    assert decision.referral_id == "ref-aa5a05a79675cf8ead047834"
    assert audit_record(record_type, record, "email", "x", AT)["disclosure_id"] == "dsc-0d556414b133a6e80aad14b2"


@pytest.fixture
def knowsley_own(config):
    """Knowsley with thresholds and guidance of its own (areas may set both), St Helens as shipped."""
    knowsley = config.areas[KNOWSLEY]
    own = knowsley.model_copy(update={"risk": knowsley.risk.model_copy(update={"dash_high": 12, "dash_medium": 5}),
                                      "encompass_guidance": "Knowsley's own guidance for a Key Adult."})
    return config.model_copy(update={"areas": config.areas | {KNOWSLEY: own}})


KNOWSLEY = "E08000011"


@pytest.mark.parametrize("count, consent, pathway, level", [
    (12, True, "MARAC", "high"),               # high in Knowsley, medium in St Helens
    (7, True, "COMMUNITY_ADVOCACY", "medium"),  # medium in Knowsley, standard in St Helens
    (7, False, "MASH_IDVA", "medium"),
])
def test_each_record_gives_the_risk_level_by_the_victims_own_areas_thresholds(knowsley_own, count, consent,
                                                                             pathway, level):
    notification = incident(local_authority=KNOWSLEY, consent_to_share=consent,
                            risk={"tool": "DASH", "dash_yes_count": count})
    _, _, record = only(knowsley_own, notification, pathway)
    assert (record["risk"]["level"] if pathway == "MARAC" else record["risk_level"]) == level


def test_a_school_is_given_the_victims_areas_guidance(knowsley_own):
    _, _, record = only(knowsley_own, incident(local_authority=KNOWSLEY), "ENCOMPASS")
    assert record["guidance"] == "Knowsley's own guidance for a Key Adult."


@pytest.mark.parametrize("pathway, count", [("COMMUNITY_ADVOCACY", 3), ("MASH_IDVA", 3)])
def test_an_amendment_moving_the_victim_out_of_the_partnership_is_told_by_the_forces_rules(config, pathway, count):
    """A standing referral's amend record (no_longer_met) built from the corrected incident,
    whose area the hub does not serve: the level comes from the area the force names."""
    notification = incident(risk={"tool": "DASH", "dash_yes_count": count})
    before = parse_incident(json.dumps(notification), config)
    [standing] = [d for d in decide(before, History(), config) if d.pathway == pathway]
    moved = parse_incident(json.dumps(notification | {"local_authority": "E08000012", "version": 2}), config)
    amend = standing.__class__(**{**standing.__dict__, "action": "amend", "reasons": ("no_longer_met",)})
    record_type, record = disclose(amend, moved, config)
    assert (record["action"], record["risk_level"]) == ("amend", "standard")
