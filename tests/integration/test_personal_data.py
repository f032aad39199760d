"""No name, date of birth, phone, email, address or free text from a notification is ever logged."""
import json

from referral_hub.adapters.topics import CONTACTS, REFERRALS
from tests.factories import child, fresh_incident
from tests.integration.conftest import TEST_RUN_DIR
from tests.integration.kafka_helpers import post_incident, report_contact

PERSONAL = {"victim__given_name": "Quillonette", "victim__family_name": "Zarkeshwood",
            "victim__date_of_birth": "1979-02-13", "victim__postcode": "WA10 9ZZ",
            "victim__contact": {"phone": "07700900987", "email": "quillonette@example.org",
                                "safe_to_contact": True, "safe_contact_notes": "ring only after dusk"},
            "risk": {"tool": "DASH", "dash_yes_count": 4, "officer_grade": "high",
                     "professional_judgement": True,
                     "professional_judgement_reason": "neighbour heard threats with a crowbar"}}
SECRETS = ["Quillonette", "Zarkeshwood", "1979-02-13", "WA10 9ZZ", "07700900987",
           "quillonette@example.org", "ring only after dusk", "crowbar", "Bramblethorn", "2014-12-25"]


def test_logs_hold_ids_and_codes_but_no_personal_data(api, topic, hub):
    accepted = fresh_incident(**PERSONAL, children=[child("MP-P-PD1", born="2014-12-25") | {
        "given_name": "Bramblethorn"}])
    refused = fresh_incident(**(PERSONAL | {"victim__date_of_birth": "2999-01-01"}))
    assert post_incident(api, accepted).status_code == 202
    answer = post_incident(api, refused)
    assert answer.status_code == 422 and not any(s in answer.text for s in SECRETS)

    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=accepted["incident_id"])) == 4, "referrals")
    ids = {d["referral_id"] for d in referrals.values(incident_id=accepted["incident_id"])}
    contacts = topic(CONTACTS, "contact-event")
    contacts.wait_for(lambda _: ids <= {e["referral_id"] for e in contacts.values(type="delivered")},
                      "deliveries")
    marac = next(d for d in referrals.values(incident_id=accepted["incident_id"]) if d["pathway"] == "MARAC")
    report_contact(api, marac, "safe_contact_made", "2026-11-21T10:00:00Z").raise_for_status()

    lines = [line for path in sorted((TEST_RUN_DIR / "logs").glob("*.log"))
             for line in path.read_text().splitlines() if line.strip()]
    logged = "\n".join(lines)
    assert f"merseyside/{accepted['incident_id']}" in logged  # the steps are logged, by id
    assert marac["referral_id"] in logged
    for secret in SECRETS:
        assert secret not in logged, f"personal data in a log line: {secret}"
    for line in lines:
        json.loads(line)  # every line is a structured JSON event
