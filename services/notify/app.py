"""Notify: delivers each recipient's record on deliveries.v1 by the recipient's channel and
records `delivered` on contacts.v1 and the disclosure on audit.v1.

Channels (config: recipients.<ROLE>.channel): `kafka`, the recipient's own topic; `webhook`,
a signed POST retried for up to a day (services/notify/webhook_channel.py); `email`, the
record in an email to the recipient's address. Schools get the shared education-settings
topic and, when SMTP is configured, an Operation Encompass email to their Key Adult.

A faust table keyed like deliveries.v1 (force:victim) remembers which referral ids were
delivered, so a replayed referral is not delivered twice; an id is kept only after the
broker has the delivery (or the recipient answered 2xx) and the `delivered` event.
"""
from __future__ import annotations

import asyncio
import hashlib
from email.message import EmailMessage

import faust

from referral_hub.adapters.ack_tokens import issue
from referral_hub.adapters.avro import AvroCodec
from referral_hub.adapters.clock import Clock
from referral_hub.config import ConfigError, HubConfig, Recipient
from referral_hub.core.disclosure import audit_record
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import DELIVERED, TIME_TO_NOTIFY, UNDELIVERABLE
from referral_hub.adapters.records import contact_event, dead_letter
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import Batch, agent, batch_producer, each_event, faust_app, raw_topic, send_and_wait
from referral_hub.adapters.topics import (
    AUDIT,
    CONTACTS,
    DELIVERIES,
    DELIVERIES_DLQ,
    WEBHOOK_RETRIES,
)
from referral_hub.core.validation import Problem

from .agency_email import render_agency_email, render_recall_email
from .encompass_email import EmailNotSent, SmtpSettings, render, send
from .webhook_channel import WebhookChannel

log = get_logger()
APP_ID = "referral-hub-notify"
EMAIL_RETRY_PAUSES = (1.0, 4.0, 0.0)  # three tries, a few seconds apart
BATCH = 200  # deliveries at most between two waits for the broker


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings, settings.notify_host, settings.notify_port)
    producer = batch_producer(settings)
    clock = Clock(settings.clock_file)
    work = app.topic(DELIVERIES, WEBHOOK_RETRIES, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")
    contacts = raw_topic(app, CONTACTS)
    audit = raw_topic(app, AUDIT)
    undeliverable = raw_topic(app, DELIVERIES_DLQ)
    recipient_topics = {name: raw_topic(app, name) for name in config.recipient_topics()}
    delivered = app.Table("delivered-referrals", default=list)
    smtp = _smtp_settings(settings, config)
    for agency in config.agencies():  # from the start, so Prometheus's increase() sees the first
        if agency.channel == "email":
            UNDELIVERABLE.labels(agency.id, "email")

    def delivery_records(record_type: str, record: dict, channel: str, destination: str,
                         now) -> list[tuple[faust.TopicT, str, bytes]]:
        """What follows a delivery: `delivered` on contacts.v1, the disclosure on audit.v1."""
        referral_id = record["referral_id"]
        return [(contacts, referral_id, codec.encode("contact-event", contact_event(record, "delivered", now))),
                (audit, referral_id, codec.encode("audit", audit_record(record_type, record, channel,
                                                                        destination, now)))]

    def count_delivery(record: dict, channel: str, now) -> None:
        labels = (record["pathway"], record["area"])
        DELIVERED.labels(*labels).inc()
        TIME_TO_NOTIFY.labels(*labels).observe((now - record["reported_at"]).total_seconds())
        log.info("referral_delivered", referral_id=record["referral_id"], pathway=record["pathway"],
                 recipient=record["recipient"], channel=channel)

    async def record_delivery(victim_key: str, record_type: str, record: dict, channel: str,
                              destination: str) -> None:
        now = clock.now()
        await asyncio.gather(*(send_and_wait(topic, key, value) for topic, key, value
                               in delivery_records(record_type, record, channel, destination, now)))
        delivered[victim_key] = [*delivered[victim_key], delivered_key(record)]
        count_delivery(record, channel, now)

    class KafkaDeliveries:
        """A batch's deliveries to recipients' topics: every recipient record is sent, and
        once the broker has them all, their `delivered` and audit records; once it has
        those, the delivered table. Anything else a batch does waits for done() first, so
        the table is never written out of order."""

        def __init__(self) -> None:
            self.pending: list[tuple[faust.EventT, str, str, dict, bytes]] = []
            self.later: dict[str, list[str]] = {}  # the table's values after this batch

        def delivered_to(self, victim_key: str) -> list[str]:
            return self.later.get(victim_key) or delivered[victim_key]

        def add(self, event: faust.EventT, victim_key: str, record_type: str, record: dict,
                value: bytes) -> None:
            self.pending.append((event, victim_key, record_type, record, value))
            self.later[victim_key] = [*self.delivered_to(victim_key), delivered_key(record)]

        async def done(self) -> None:
            if not self.pending:
                return
            to_recipients, after, now = Batch(producer), Batch(producer), clock.now()
            for _, victim_key, _, record, value in self.pending:
                to_recipients.send(recipient_topics[config.topic_for(record["recipient"])], victim_key, value)
            await to_recipients.done()
            for event, victim_key, record_type, record, _ in self.pending:
                topic_name = config.topic_for(record["recipient"])
                for topic, key, value in delivery_records(record_type, record, "kafka", topic_name, now):
                    after.send(topic, key, value)
            for victim_key, referral_ids in self.later.items():
                event = next(e for e, key, *_ in reversed(self.pending) if key == victim_key)
                after.write_after(event, delivered, victim_key, referral_ids)
            await after.done()
            for *_, record, _ in self.pending:
                count_delivery(record, "kafka", now)
            self.pending, self.later = [], {}

    async def give_up(victim_key: str, value: bytes, channel: str, why: str) -> None:
        """Keep an undeliverable record on deliveries.dlq.v1 with the reason, and count it."""
        _, record = codec.decode_any(value)
        letter = dead_letter("notify", [Problem(record["recipient"], why)], value, len(value),
                             force=victim_key.partition(":")[0])
        await send_and_wait(undeliverable, record["referral_id"], codec.encode("dead-letter", letter))
        UNDELIVERABLE.labels(record["recipient"], channel).inc()
        log.error("referral_undeliverable", referral_id=record["referral_id"],
                  recipient=record["recipient"], channel=channel)

    webhooks = WebhookChannel(app, settings, config, codec, clock, record_delivery, give_up,
                              redeliver=lambda victim_key, value: deliver_one(victim_key, value))

    async def send_email(victim_key: str, value: bytes, message: EmailMessage) -> bool:
        """A few tries; a mail server that still refuses costs this email (dead-lettered
        and alerted), never the deliveries queued behind it."""
        for pause in EMAIL_RETRY_PAUSES:
            try:
                await send(smtp, message)
                return True
            except EmailNotSent as failure:
                log.warning("email_not_sent", referral_id=message["X-Referral-Id"], error_type=str(failure))
                await asyncio.sleep(pause)
        await give_up(victim_key, value, "email", "the mail server refused it three times")
        return False

    def school_email(record: dict) -> EmailMessage:
        return encompass_email(record) if record.get("action") != "recall" else render_recall_email(
            record, "the school's Key Adult", school_address(record["recipient"]), sender=smtp.sender,
            now=clock.now())

    def encompass_email(record: dict) -> EmailMessage:
        """To `key_adult_email` (a school's Key Adult, or the coordinator standing in for one),
        with its acknowledgement link."""
        token = issue(record["referral_id"], settings.ack_secret.get_secret_value())
        return render(record, f"{settings.public_base_url}/acknowledge/{token}", sender=smtp.sender)

    async def email_the_school(victim_key: str, record: dict, value: bytes) -> None:
        """The Key Adult's email, after the shared topic."""
        message = school_email(record)
        if await send_email(victim_key, value, message):
            await send_and_wait(audit, record["referral_id"], codec.encode("audit", audit_record(
                "recipient-encompass", record, "email", message["To"].addresses[0].addr_spec,
                clock.now())))
            log.info("encompass_emailed", referral_id=record["referral_id"], recipient=record["recipient"])

    async def email_the_agency(victim_key: str, agency: Recipient, record_type: str, record: dict,
                               value: bytes) -> None:
        if record_type == "recipient-recall":
            message = render_recall_email(record, agency.name, agency.email, sender=smtp.sender,
                                          now=clock.now())
        elif record_type == "recipient-encompass":
            message = encompass_email(record)
        else:
            message = render_agency_email(record_type, record, agency.name, agency.email,
                                          sender=smtp.sender, now=clock.now())
        if await send_email(victim_key, value, message):
            await record_delivery(victim_key, record_type, record, "email", agency.email)

    async def deliver_by_kafka(victim_key: str, record_type: str, record: dict, value: bytes) -> None:
        topic_name = config.topic_for(record["recipient"])
        await send_and_wait(recipient_topics[topic_name], victim_key, value)
        await record_delivery(victim_key, record_type, record, "kafka", topic_name)

    def school_address(recipient_id: str) -> str:
        return next(s.key_adult_email for s in config.education_settings.values()
                    if s.recipient_id == recipient_id)

    def is_school(agency: Recipient | None, record_type: str) -> bool:
        return agency is None and record_type in ("recipient-encompass", "recipient-recall")

    async def deliver_one(victim_key: str, value: bytes, batch: "KafkaDeliveries | None" = None,
                          event: faust.EventT | None = None) -> None:
        """Deliver one record; by Kafka within `batch` when there is one, else at once."""
        record_type, record = codec.decode_any(value)
        referral_id = record["referral_id"]
        if delivered_key(record) in (batch.delivered_to(victim_key) if batch else delivered[victim_key]):
            log.info("referral_already_delivered", referral_id=referral_id, action=record.get("action"))
            return
        agency = config.agency(record["recipient"])
        by_kafka_only = (is_school(agency, record_type) and not smtp.enabled) \
            or (agency is not None and agency.channel == "kafka")
        if batch and by_kafka_only:
            batch.add(event, victim_key, record_type, record, value)
            return
        if batch:
            await batch.done()
        if is_school(agency, record_type):
            await deliver_by_kafka(victim_key, record_type, record, value)
            if smtp.enabled:
                await email_the_school(victim_key, record, value)
        elif agency is None:  # removed from the configuration since the referral was made
            await give_up(victim_key, value, "none", "the recipient is not in the configuration")
        elif agency.channel == "webhook":
            # Its own idempotency key: an amend or a recall is a delivery of its own.
            await webhooks.queue(victim_key, delivery_key(record), agency.id, value)
        elif agency.channel == "email":
            await email_the_agency(victim_key, agency, record_type, record, value)
        else:
            await deliver_by_kafka(victim_key, record_type, record, value)

    @agent(app, work, batches_of=BATCH)
    async def deliver(batches):
        async for events in batches:
            batch = KafkaDeliveries()
            for event in each_event(events):
                victim_key = event.key.decode()
                if event.message.topic == WEBHOOK_RETRIES:
                    await batch.done()
                    await webhooks.retry(victim_key, event.value.decode())
                else:
                    await deliver_one(victim_key, event.value, batch, event)
            await batch.done()

    return app


def delivered_key(record: dict) -> str:
    """What notify remembers as delivered, per recipient: a referral recalled from one
    recipient and made to another (the area corrected) is a delivery to each."""
    return f"{delivery_key(record)}@{record['recipient']}"


def delivery_key(record: dict) -> str:
    """A delivery's own id (a webhook's idempotency key): a referral once, each amend and
    its recall once."""
    action = record.get("action", "refer")
    if action == "refer":
        return record["referral_id"]
    if action == "recall":
        return f"{record['referral_id']}:recall"
    return f"{record['referral_id']}:amend:{record_digest(record)}"


def record_digest(record: dict) -> str:
    return hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:16]


def _smtp_settings(settings: HubSettings, config: HubConfig) -> SmtpSettings:
    smtp = SmtpSettings()
    if smtp.enabled and settings.ack_secret is None:
        raise ConfigError("RH_ACK_SECRET: required when RH_SMTP_ENABLED is true "
                          "(it signs the acknowledgement links in Encompass emails)")
    by_email = sorted({r.id for r in config.agencies() if r.channel == "email"})
    if by_email and not smtp.enabled:
        raise ConfigError(f"RH_SMTP_ENABLED: required, since {', '.join(by_email)} "
                          "take referrals by email (channel = \"email\")")
    return smtp
