"""Notify: delivers each recipient's record on deliveries.v1 and records `delivered`.

Every record goes to the recipient's own Kafka topic; a school's Operation Encompass
notification is also emailed to its Key Adult when SMTP is configured (webhooks are still
to come). A faust table keyed like deliveries.v1 (force:victim) remembers which referral ids were delivered,
so a replayed referral is not delivered twice; the record is kept only after the broker
has both the delivery and the `delivered` event.
"""
from __future__ import annotations

import asyncio

import faust

from referral_hub.ack_tokens import issue
from referral_hub.avro import AvroCodec
from referral_hub.clock import Clock
from referral_hub.config import ConfigError, HubConfig
from referral_hub.disclosure import audit_record
from referral_hub.logs import get_logger
from referral_hub.metrics import DEAD_LETTERS, DELIVERED, TIME_TO_NOTIFY
from referral_hub.records import contact_event
from referral_hub.settings import HubSettings
from referral_hub.streaming import agent, faust_app, raw_topic, send_and_wait
from referral_hub.topics import AUDIT, CONTACTS, DELIVERIES, DELIVERIES_DLQ

from .encompass_email import EmailNotSent, SmtpSettings, render, send

log = get_logger()
APP_ID = "referral-hub-notify"
EMAIL_RETRY_PAUSES = (1.0, 4.0, 0.0)  # three tries, a few seconds apart


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings, settings.notify_host, settings.notify_port)
    clock = Clock(settings.clock_file)
    deliveries = raw_topic(app, DELIVERIES)
    contacts = raw_topic(app, CONTACTS)
    audit = raw_topic(app, AUDIT)
    recipient_topics = {name: raw_topic(app, name) for name in config.recipient_topics()}
    delivered = app.Table("delivered-referrals", default=list)
    smtp = SmtpSettings()
    if smtp.enabled and settings.ack_secret is None:
        raise ConfigError("RH_ACK_SECRET: required when RH_SMTP_ENABLED is true "
                          "(it signs the acknowledgement links in Encompass emails)")
    undeliverable = raw_topic(app, DELIVERIES_DLQ)

    async def email_the_school(record: dict, value: bytes) -> None:
        """The Key Adult's email, with its acknowledgement link. A mail server that still
        refuses after a few tries costs this email (dead-lettered and alerted), never the
        deliveries queued behind it."""
        token = issue(record["referral_id"], settings.ack_secret.get_secret_value())
        message = render(record, f"{settings.public_base_url}/acknowledge/{token}", sender=smtp.sender)
        for pause in EMAIL_RETRY_PAUSES:
            try:
                await send(smtp, message)
                break
            except EmailNotSent as failure:
                log.warning("email_not_sent", referral_id=record["referral_id"], error_type=str(failure))
                await asyncio.sleep(pause)
        else:
            await send_and_wait(undeliverable, record["referral_id"], value)
            DEAD_LETTERS.labels("notify").inc()
            return
        await send_and_wait(audit, record["referral_id"], codec.encode("audit", audit_record(
            "recipient-encompass", record, "email", record["key_adult_email"], clock.now())))
        log.info("encompass_emailed", referral_id=record["referral_id"], recipient=record["recipient"])

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
            if record_type == "recipient-encompass" and smtp.enabled and config.agency(referral["recipient"]) is None:
                await email_the_school(referral, value)
            delivered[victim_key] = [*delivered[victim_key], referral_id]
            labels = (referral["pathway"], referral["area"])
            DELIVERED.labels(*labels).inc()
            TIME_TO_NOTIFY.labels(*labels).observe((now - referral["reported_at"]).total_seconds())
            log.info("referral_delivered", referral_id=referral_id, pathway=referral["pathway"],
                     recipient=referral["recipient"], topic=topic_name)

    return app
