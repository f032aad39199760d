"""Notify: delivers each recipient's record on deliveries.v1 and records `delivered`.

Delivery here is the recipient's own Kafka topic (webhooks and email are issue 4). A faust
table keyed like referrals.v1 (force:victim) remembers which referral ids were delivered,
so a replayed referral is not delivered twice; the record is kept only after the broker
has both the delivery and the `delivered` event.
"""
from __future__ import annotations

import faust

from referral_hub.avro import AvroCodec
from referral_hub.clock import Clock
from referral_hub.config import HubConfig
from referral_hub.disclosure import audit_record
from referral_hub.logs import get_logger
from referral_hub.metrics import DELIVERED, TIME_TO_NOTIFY
from referral_hub.records import contact_event
from referral_hub.settings import HubSettings
from referral_hub.streaming import agent, faust_app, raw_topic, send_and_wait
from referral_hub.topics import AUDIT, CONTACTS, DELIVERIES

log = get_logger()
APP_ID = "referral-hub-notify"


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings, settings.notify_host, settings.notify_port)
    clock = Clock(settings.clock_file)
    deliveries = raw_topic(app, DELIVERIES)
    contacts = raw_topic(app, CONTACTS)
    audit = raw_topic(app, AUDIT)
    recipient_topics = {name: raw_topic(app, name) for name in config.recipient_topics()}
    delivered = app.Table("delivered-referrals", default=list)

    @agent(app, deliveries)
    async def deliver(stream):
        async for key, value in stream.items():
            victim_key = key.decode()
            record_type, referral = codec.decode_any(value)
            referral_id = referral["referral_id"]
            if referral_id in delivered[victim_key]:
                log.info("referral_already_delivered", referral_id=referral_id)
                continue
            topic_name = config.topic_for(referral["recipient"])
            await send_and_wait(recipient_topics[topic_name], victim_key, value)
            now = clock.now()
            await send_and_wait(contacts, referral_id, codec.encode(
                "contact-event", contact_event(referral, "delivered", now)))
            await send_and_wait(audit, referral_id, codec.encode("audit", audit_record(
                record_type, referral, "kafka", topic_name, now)))
            delivered[victim_key] = [*delivered[victim_key], referral_id]
            labels = (referral["pathway"], referral["area"])
            DELIVERED.labels(*labels).inc()
            TIME_TO_NOTIFY.labels(*labels).observe((now - referral["reported_at"]).total_seconds())
            log.info("referral_delivered", referral_id=referral_id, pathway=referral["pathway"],
                     recipient=referral["recipient"], topic=topic_name)

    return app
