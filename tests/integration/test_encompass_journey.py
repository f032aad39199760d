"""A Key Adult receives the Operation Encompass email and acknowledges it from the link,
in a browser; the acknowledgement reaches contacts.v1 and the time-to-contact histogram."""
import re

import httpx
from selenium.webdriver.common.by import By

from referral_hub.adapters.topics import AUDIT, CONTACTS
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import posted_referral, wait_until
from tests.integration.test_acknowledge_page import status_after_click

KEY_ADULT = "key.adult@example-park-primary.example.org"  # URN 104808 in the directory


def encompass_contacts(hub) -> float:
    text = httpx.get(hub.urls()["router"] + "/metrics", timeout=5).text
    prefix = 'referral_hub_time_to_contact_seconds_count{area="E08000013",pathway="ENCOMPASS"} '
    return next((float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def test_a_key_adult_acknowledges_from_the_email_link(api, topic, hub, mailbox, browser):
    notification = fresh_incident()
    encompass = posted_referral(api, topic, notification, "ENCOMPASS")
    wait_until(lambda: any(m["X-Referral-Id"] == encompass["referral_id"] for m in mailbox), "the email")
    [email] = [m for m in mailbox if m["X-Referral-Id"] == encompass["referral_id"]]
    assert email["To"] == KEY_ADULT
    assert "Sam" not in email["Subject"]  # subjects show on lock screens
    body = next(part for part in email.walk() if part.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "Sam Example" in body and "Merseyside Police " + notification["incident_id"] in body
    [link] = set(re.findall(re.escape(hub.urls()["ingest"]) + r"/acknowledge/\S+", body))

    before = encompass_contacts(hub)
    browser.get(link)
    assert "Sam Example" in browser.find_element(By.TAG_NAME, "body").text
    assert "Acknowledged" in status_after_click(browser)
    browser.get(link)  # opened again later: already acknowledged, nothing new recorded
    assert "already acknowledged" in browser.find_element(By.TAG_NAME, "body").text.lower()

    contacts = topic(CONTACTS, "contact-event")
    contacts.wait_for(lambda _: contacts.values(referral_id=encompass["referral_id"], type="acknowledged"),
                      "the acknowledgement on contacts.v1")
    wait_until(lambda: encompass_contacts(hub) == before + 1, "the acknowledgement in time_to_contact")
    contacts.read_to_end()
    assert len(contacts.values(referral_id=encompass["referral_id"], type="acknowledged")) == 1
    audit = topic(AUDIT, "audit")
    audit.wait_for(lambda _: audit.values(referral_id=encompass["referral_id"], channel="email"),
                   "the email disclosure audited")
    assert audit.values(referral_id=encompass["referral_id"], channel="email")[0]["destination"] == KEY_ADULT
