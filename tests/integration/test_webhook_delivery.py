"""Webhooks on the running hub: Sefton's MARAC and IDVA take referrals by signed POST to the
`webhooks` server (conftest). A recipient that is down for an hour (notify restarting
meanwhile) gets everything once it is back, each referral once and each victim's in order;
one that never recovers has its referral dead-lettered after a day, and its later
referrals still arrive."""
import json
import re
import shutil
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx

from referral_hub.settings import REPO_ROOT
from referral_hub.adapters.topics import AUDIT, CONTACTS, DELIVERIES, DELIVERIES_DLQ, REFERRALS
from referral_hub.services.notify.app import APP_ID as NOTIFY_APP_ID
from tests.factories import incident
from tests.integration.kafka_helpers import post_incident, wait_until

SEFTON = "E08000014"
WEBHOOK_RECIPIENTS = ("sefton-marac", "sefton-idva")
SCHEMAS = REPO_ROOT / "schemas" / "avro"


def sefton_incidents(victims: int, each: int) -> list[dict]:
    """High-risk incidents (MARAC and IDVA) for new victims, `each` per victim, in turns."""
    tag = uuid.uuid4().hex[:8].upper()
    return [incident(incident_id=f"W{tag}-{v}-{n}", local_authority=SEFTON, children=[],
                     victim__person_id=f"V{tag}-{v}", perpetrator__person_id=f"P{tag}-{v}",
                     occurred_at=f"2026-11-{10 + n}T21:50:00Z", reported_at=f"2026-11-{10 + n}T22:14:00Z")
            for n in range(each) for v in range(victims)]


def webhook_referrals(topic, notifications: list[dict]) -> dict[str, list[str]]:
    """recipient -> the referral ids deliveries.v1 holds for it, per victim in order."""
    ids = {n["incident_id"] for n in notifications}
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len([r for r in referrals.values() if r["incident_id"] in ids])
                       >= 2 * len(ids), "MARAC and IDVA referrals decided")
    wanted = {r["referral_id"] for r in referrals.values()
              if r["incident_id"] in ids and r["recipient"] in WEBHOOK_RECIPIENTS}
    deliveries = topic(DELIVERIES, "any")
    deliveries.wait_for(lambda records: wanted <= {v["referral_id"] for _, v in records},
                        "their records on deliveries.v1")
    in_order = defaultdict(list)
    for victim_key, record in deliveries.records:
        if record["referral_id"] in wanted and record["referral_id"] not in in_order[victim_key]:
            in_order[victim_key].append(record["referral_id"])
    return in_order


def test_a_webhook_down_for_an_hour_gets_everything_once_in_order(api, topic, webhooks, clock, hub):
    start = datetime.now(UTC)
    clock(start)
    webhooks.behaviour.update(dict.fromkeys(WEBHOOK_RECIPIENTS, "fail"))
    burst = sefton_incidents(victims=2, each=3)
    try:
        for notification in burst:
            assert post_incident(api, notification).status_code == 202
        by_victim = webhook_referrals(topic, burst)
        expected = {referral_id for ids in by_victim.values() for referral_id in ids}
        for recipient in WEBHOOK_RECIPIENTS:
            wait_until(lambda: webhooks.received(recipient, "fail"), f"{recipient} refusing")

        webhooks.behaviour.update(dict.fromkeys(WEBHOOK_RECIPIENTS, "hang"))
        clock(start + timedelta(minutes=30))  # past every first retry time
        for recipient in WEBHOOK_RECIPIENTS:
            wait_until(lambda: webhooks.received(recipient, "hang"), f"{recipient} timing out")
        webhooks.behaviour.update(dict.fromkeys(WEBHOOK_RECIPIENTS, "fail"))
        failures = {r: len(webhooks.received(r, "fail")) for r in WEBHOOK_RECIPIENTS}
        clock(start + timedelta(minutes=60))
        for recipient in WEBHOOK_RECIPIENTS:
            wait_until(lambda: len(webhooks.received(recipient, "fail")) > failures[recipient],
                       f"{recipient} still refusing after an hour")
        assert not expected & {i for r in WEBHOOK_RECIPIENTS for i in webhooks.accepted_ids(r)}

        # What waits is in Kafka: a notify restarted without its local state still has it.
        hub.kill_one("notify")
        shutil.rmtree(hub.state_dir / NOTIFY_APP_ID)
        hub.start_one("notify")
        hub.wait_ready(timeout=60)

        webhooks.behaviour.update(dict.fromkeys(WEBHOOK_RECIPIENTS, "accept"))
        clock(start + timedelta(minutes=75))  # past every retry time (10 minutes at most)
        wait_until(lambda: expected <= {i for r in WEBHOOK_RECIPIENTS for i in webhooks.accepted_ids(r)},
                   "every referral accepted once the recipients are back")
    finally:
        webhooks.behaviour.clear()

    accepted = [i for r in WEBHOOK_RECIPIENTS for i in webhooks.accepted_ids(r) if i in expected]
    assert sorted(accepted) == sorted(expected)  # each referral accepted exactly once
    position = {referral_id: n for n, referral_id in enumerate(accepted)}
    for victim_ids in by_victim.values():
        for recipient in WEBHOOK_RECIPIENTS:
            ids = [i for i in victim_ids if i in set(webhooks.accepted_ids(recipient))]
            assert ids == sorted(ids, key=position.get)  # each victim's in deliveries.v1 order
    assert webhooks.bad_signatures == 0

    bodies = [r.body for r in webhooks.requests if r.idempotency_key in expected]
    assert {b["record_type"] for b in bodies} == {"recipient-risk"}
    risk_fields = [f["name"] for f in json.loads((SCHEMAS / "recipient-risk.avsc").read_text())["fields"]]
    assert all(list(b["referral"]) == risk_fields for b in bodies)  # what MARAC/IDVA may see, safe-to-contact first
    contacts = topic(CONTACTS, "contact-event")
    contacts.wait_for(lambda _: expected <= {e["referral_id"] for e in contacts.values(type="delivered")},
                      "`delivered` for each")
    audit = topic(AUDIT, "audit")
    audit.wait_for(lambda _: expected <= {a["referral_id"] for a in audit.values(channel="webhook")},
                   "each disclosure audited as by webhook")


def test_a_webhook_that_never_accepts_is_dead_lettered_after_a_day(api, topic, webhooks, clock, hub,
                                                                   codec):
    start = datetime.now(UTC)
    clock(start)
    webhooks.behaviour["sefton-idva"] = "fail"
    first, later = sefton_incidents(victims=1, each=2)
    try:
        assert post_incident(api, first).status_code == 202
        referrals = topic(REFERRALS, "referral")
        referrals.wait_for(lambda _: referrals.values(incident_id=first["incident_id"], recipient="sefton-idva"),
                           "the IDVA referral")
        [referral_id] = [r["referral_id"] for r in referrals.values(incident_id=first["incident_id"],
                                                                      recipient="sefton-idva")]
        wait_until(lambda: any(r.idempotency_key == referral_id for r in webhooks.received("sefton-idva")),
                   "the first attempt")

        clock(start + timedelta(hours=24, minutes=1))
        dead = topic(DELIVERIES_DLQ, "dead-letter")
        dead.wait_for(lambda _: any(codec.decode_any(d["payload"])[1]["referral_id"] == referral_id
                                    for d in dead.values()), "the referral dead-lettered")
        [letter] = [d for d in dead.values() if codec.decode_any(d["payload"])[1]["referral_id"] == referral_id]
        assert letter["source"] == "notify" and letter["force"] == "merseyside"
        [problem] = letter["problems"]
        assert problem["path"] == "sefton-idva" and "no 2xx answer within 24 hours" in problem["problem"]
        metrics = httpx.get(f"{hub.urls()['notify']}/metrics").text
        assert re.search(r'referral_hub_undeliverable_referrals_total\{channel="webhook",'
                         r'recipient="sefton-idva"\} [1-9]', metrics)

        webhooks.behaviour["sefton-idva"] = "accept"
        clock(start + timedelta(hours=26))  # past the backoff the last failure set
        assert post_incident(api, later).status_code == 202
        later_ids = {i for ids in webhook_referrals(topic, [later]).values() for i in ids}
        wait_until(lambda: later_ids <= {i for r in WEBHOOK_RECIPIENTS for i in webhooks.accepted_ids(r)},
                   "the victim's next referrals delivered")
    finally:
        webhooks.behaviour.clear()
    assert referral_id not in webhooks.accepted_ids("sefton-idva")
