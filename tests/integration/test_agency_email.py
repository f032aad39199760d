"""The email channel on the running hub: Sefton's community service has no integration
(conftest), so its referral arrives as an email in the `mailbox`, is `delivered` on
contacts.v1 and audited as sent by email."""
from email import message_from_bytes, policy

from referral_hub.adapters.topics import AUDIT, CONTACTS, REFERRALS
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident, wait_until


def test_an_agency_without_integration_gets_its_referral_by_email(api, topic, mailbox):
    notification = fresh_incident(local_authority="E08000014", children=[], flags=[],
                                  risk={"tool": "DASH", "dash_yes_count": 6,
                                        "officer_grade": "standard", "professional_judgement": False})
    assert post_incident(api, notification).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(incident_id=notification["incident_id"]),
                       "the referral decided")
    [referral] = referrals.values(incident_id=notification["incident_id"])
    assert referral["recipient"] == "sefton-community"

    wait_until(lambda: any(m["X-Referral-Id"] == referral["referral_id"] for m in mailbox), "the email")
    [email] = [m for m in mailbox if m["X-Referral-Id"] == referral["referral_id"]]
    assert email["To"] == "referrals@sefton.example.org"
    assert notification["victim"]["given_name"] not in email["Subject"]  # lock-screen previews
    text = message_from_bytes(email.as_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    for value in (notification["victim"]["given_name"], "+447700900123",
                  referral["referral_id"]):
        assert value in text

    contacts = topic(CONTACTS, "contact-event")
    contacts.wait_for(lambda _: contacts.values(referral_id=referral["referral_id"], type="delivered"),
                      "`delivered` on contacts.v1")
    audit = topic(AUDIT, "audit")
    audit.wait_for(lambda _: audit.values(referral_id=referral["referral_id"], channel="email",
                                          destination="referrals@sefton.example.org"),
                   "the disclosure audited as by email")
