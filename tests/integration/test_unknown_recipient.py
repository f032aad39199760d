"""A record on deliveries.v1 for a recipient the configuration no longer names (removed
while the referral waited) is kept on deliveries.dlq.v1 with the reason and counted;
notify never guesses a destination for it, and carries on."""
import re
import uuid

import httpx

from referral_hub.adapters.kafka import make_producer, produce_and_wait
from referral_hub.adapters.topics import DELIVERIES, DELIVERIES_DLQ
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident


def test_a_referral_for_a_recipient_no_longer_configured_is_dead_lettered(api, topic, kafka, codec,
                                                                           hub):
    notification = fresh_incident()
    assert post_incident(api, notification).status_code == 202
    deliveries = topic(DELIVERIES, "any")
    deliveries.wait_for(lambda records: any(v["police_reference"].endswith(notification["incident_id"])
                                            and v["pathway"] == "IDVA" for _, v in records),
                        "the incident's IDVA record")
    [(victim_key, record)] = [(k, v) for k, v in deliveries.records
                              if v["police_reference"].endswith(notification["incident_id"])
                              and v["pathway"] == "IDVA"]
    orphan = record | {"referral_id": f"ref-{uuid.uuid4().hex[:24]}", "recipient": "st-helens-idva-closed"}
    produce_and_wait(make_producer(kafka), DELIVERIES, victim_key, codec.encode("recipient-risk", orphan))

    dead = topic(DELIVERIES_DLQ, "dead-letter")
    dead.wait_for(lambda _: any(codec.decode_any(d["payload"])[1]["referral_id"] == orphan["referral_id"]
                                for d in dead.values()), "the record dead-lettered")
    [letter] = [d for d in dead.values()
                if codec.decode_any(d["payload"])[1]["referral_id"] == orphan["referral_id"]]
    assert letter["problems"] == [{"path": "st-helens-idva-closed",
                                   "problem": "the recipient is not in the configuration"}]
    metrics = httpx.get(f"{hub.urls()['notify']}/metrics").text
    assert re.search(r'referral_hub_undeliverable_referrals_total\{channel="none",'
                     r'recipient="st-helens-idva-closed"\} 1\.0', metrics)
    schools = topic("recipient.education-settings.v1", "any")
    schools.read_to_end()
    assert not schools.values(referral_id=orphan["referral_id"])
