"""Notify killed during a burst of deliveries: every referral is delivered after the restart,
and a repeat (at-least-once) is the same record under the same referral id. A third of the
burst is Sefton's, whose MARAC and IDVA take referrals by webhook (conftest): each is
accepted once."""
import json
import uuid
from collections import Counter, defaultdict

from referral_hub.adapters.topics import CONTACTS, REFERRALS
from tests.factories import incident
from tests.integration.kafka_helpers import post_incident

ST_HELENS, SEFTON = "E08000013", "E08000014"


def test_notify_killed_mid_burst_delivers_every_referral(api, topic, hub, webhooks):
    tag = uuid.uuid4().hex[:8].upper()
    burst = [incident(incident_id=f"N{tag}-{n}", victim__person_id=f"V{tag}-{n}",
                      perpetrator__person_id=f"P{tag}-{n}", children__0__person_id=f"C{tag}-{n}",
                      local_authority=SEFTON if n % 3 == 0 else ST_HELENS)
             for n in range(15)]
    for index, notification in enumerate(burst):
        assert post_incident(api, notification).status_code == 202
        if index == 4:
            hub.kill_one("notify")
    referrals = topic(REFERRALS, "referral")
    ids = {n["incident_id"] for n in burst}
    referrals.wait_for(lambda _: len([r for r in referrals.values() if r["incident_id"] in ids]) >= 4 * len(burst),
                       "every referral decided")
    expected = {r["referral_id"]: r for r in referrals.values() if r["incident_id"] in ids}
    hub.start_one("notify")
    hub.wait_ready(timeout=60)

    contacts = topic(CONTACTS, "contact-event")

    def undelivered() -> set[str]:
        return expected.keys() - {e["referral_id"] for e in contacts.values(type="delivered")}

    contacts.wait_for(lambda _: not undelivered(), lambda: f"all {len(expected)} referrals delivered; "
                      f"not delivered to: {dict(Counter(expected[r]['recipient'] for r in undelivered()))}",
                      timeout=120)
    recipients = {name: topic(name, "any") for name in (
        "recipient.st-helens-marac.v1", "recipient.st-helens-idva.v1", "recipient.st-helens-mash.v1",
        "recipient.sefton-mash.v1", "recipient.education-settings.v1")}
    seen = defaultdict(list)
    for reader in recipients.values():
        reader.read_to_end()
        for record in reader.values():
            if record["referral_id"] in expected:
                seen[record["referral_id"]].append(json.dumps(record, default=str, sort_keys=True))
    by_webhook = {r for r in expected if expected[r]["recipient"] in ("sefton-marac", "sefton-idva")}
    assert by_webhook and seen.keys() == expected.keys() - by_webhook  # nothing lost
    assert all(len(set(copies)) == 1 for copies in seen.values())  # a repeat is the same record
    # A POST answered just before the kill may come again: same key, same body, so an
    # endpoint that drops repeats by Idempotency-Key records each referral once.
    accepted = defaultdict(list)
    for recipient in ("sefton-marac", "sefton-idva"):
        for request in webhooks.received(recipient, "accept"):
            if request.idempotency_key in by_webhook:
                accepted[request.idempotency_key].append(json.dumps(request.body, sort_keys=True))
    assert accepted.keys() == by_webhook
    assert all(len(set(copies)) == 1 for copies in accepted.values())
