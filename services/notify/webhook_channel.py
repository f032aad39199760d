"""The webhook channel of notify: referrals POSTed to recipients' case systems, retried
until a 2xx answer or the recipient's retry period (24 hours by default) runs out.

What waits is kept in Kafka: the `webhook-waiting` table (services/notify/webhook_queue.py),
so a restarted notify resumes every retry. Per victim and recipient only the oldest
waiting referral is attempted, so a recipient that was down receives each victim's
referrals in order. A timer finds the heads whose retry time has come and sends a retry
to webhook-retries.v1, keyed like deliveries.v1; the agent that owns the table acts on it
(timers cannot write faust tables).

While a recipient is failing, one attempt per backoff period tests it: the other victims'
referrals for it wait for that time instead of each costing a timeout. That knowledge is
only in memory; after a restart the first due referral tests the recipient again.
"""
from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import faust
import httpx

from referral_hub.adapters.avro import AvroCodec
from referral_hub.adapters.clock import Clock
from referral_hub.config import HubConfig, Webhook
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import (
    UNDELIVERABLE,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_OLDEST_WAITING,
    WEBHOOK_WAITING,
)
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import raw_topic, send_and_wait
from referral_hub.adapters.topics import WEBHOOK_RETRIES

from .webhook import deliver, gives_up, json_body, next_attempt_delay
from .webhook_queue import (
    Queues,
    after_failure,
    drop_head,
    due_recipients,
    enqueue,
    head,
    new_entry,
    next_step,
    postponed,
    queued_at,
    record_of,
    replace_head,
    waiting_since,
)

log = get_logger()
RETRY_SENT_AGAIN_AFTER = 60.0  # seconds: a retry whose partition moved away is sent again
# Longest wait between attempts: a recipient back up has its referrals within 10 minutes,
# and one attempt per recipient per wait costs it nothing.
LONGEST_BACKOFF_SECONDS = 600.0

# (victim_key, record_type, record, channel, destination): records `delivered` and the audit.
OnDelivered = Callable[[str, str, dict, str, str], Awaitable[None]]
# (victim_key, Avro record, channel, why): keeps the record on deliveries.dlq.v1, counted.
OnGivenUp = Callable[[str, bytes, str, str], Awaitable[None]]
# (victim_key, Avro record): delivers it by the recipient's channel in today's configuration.
Redeliver = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True)
class Outage:
    failures: int  # consecutive failed attempts at this recipient
    retry_at: datetime


class WebhookChannel:
    def __init__(self, app: faust.App, settings: HubSettings, config: HubConfig,
                 codec: AvroCodec, clock: Clock, on_delivered: OnDelivered,
                 on_given_up: OnGivenUp, redeliver: Redeliver) -> None:
        self._config, self._codec, self._clock = config, codec, clock
        self._on_delivered, self._on_given_up, self._redeliver = on_delivered, on_given_up, redeliver
        self._secrets = config.webhook_secrets(dict(os.environ))
        self._waiting = app.Table("webhook-waiting", default=dict)
        self._retries = raw_topic(app, WEBHOOK_RETRIES)
        self._http = httpx.AsyncClient()
        self._outages: dict[str, Outage] = {}
        self._retries_sent: dict[tuple[str, str], float] = {}
        self._rng = random.Random()
        for recipient_id in self._secrets:  # every series from the start, at zero
            UNDELIVERABLE.labels(recipient_id, "webhook")
            for outcome in ("delivered", "failed"):
                WEBHOOK_ATTEMPTS.labels(recipient_id, outcome)
        app.timer(interval=settings.webhook_check_seconds)(self._send_due_retries)

    async def queue(self, victim_key: str, referral_id: str, recipient_id: str, value: bytes) -> None:
        """Queue a referral behind the victim's others for this recipient, then try it."""
        entry = new_entry(referral_id, value, self._clock.now())
        self._store(victim_key, enqueue(self._waiting[victim_key], recipient_id, entry))
        await self._flush(victim_key, recipient_id)

    async def retry(self, victim_key: str, recipient_id: str) -> None:
        self._retries_sent.pop((victim_key, recipient_id), None)
        await self._flush(victim_key, recipient_id)

    async def _flush(self, victim_key: str, recipient_id: str) -> None:
        """Deliver the victim's waiting referrals for the recipient, oldest first, until one
        fails or is not yet due. Each leaves the queue only once its outcome is on Kafka."""
        agency = self._config.agency(recipient_id)
        webhook = agency.webhook if agency else None
        while (entry := head(self._waiting[victim_key], recipient_id)) is not None:
            if webhook is None:  # the configuration changed while it waited (a restart)
                await self._redeliver(victim_key, record_of(entry))
                self._store(victim_key, drop_head(self._waiting[victim_key], recipient_id))
                continue
            now = self._clock.now()
            outage = self._outages.get(recipient_id)
            step = next_step(entry, now, outage and outage.retry_at, webhook.retry_for)
            if step == "wait":
                return
            if step == "postpone":
                self._store(victim_key, replace_head(self._waiting[victim_key], recipient_id,
                                                     postponed(entry, outage.retry_at)))
                return
            if step == "give_up":
                await self._give_up(victim_key, entry, webhook)
            elif not await self._attempt(victim_key, recipient_id, entry, webhook, now):
                return
            self._store(victim_key, drop_head(self._waiting[victim_key], recipient_id))

    async def _attempt(self, victim_key: str, recipient_id: str, entry: dict, webhook: Webhook,
                       now: datetime) -> bool:
        record_type, record = self._codec.decode_any(record_of(entry))
        # Signed with the real time, not the service clock: the recipient checks it against its own.
        attempt = await deliver(self._http, str(webhook.url), self._secrets[recipient_id],
                                json_body(record_type, record), entry["referral_id"],
                                int(time.time()), webhook.timeout_seconds)
        WEBHOOK_ATTEMPTS.labels(recipient_id, "delivered" if attempt.delivered else "failed").inc()
        if attempt.delivered:
            self._outages.pop(recipient_id, None)
            await self._on_delivered(victim_key, record_type, record, "webhook", str(webhook.url))
            return True
        failures = self._outages[recipient_id].failures + 1 if recipient_id in self._outages else 1
        delay = next_attempt_delay(failures - 1, self._rng, cap_seconds=LONGEST_BACKOFF_SECONDS)
        retry_at = now + timedelta(seconds=delay)
        self._outages[recipient_id] = Outage(failures, retry_at)
        failed = after_failure(entry, retry_at)
        log.warning("webhook_not_delivered", referral_id=entry["referral_id"], recipient=recipient_id,
                    problem=attempt.problem, attempts=failed["attempts"], retry_at=retry_at.isoformat())
        if gives_up(queued_at(entry), now, webhook.retry_for):
            await self._give_up(victim_key, failed, webhook)
            return True  # done with, like a delivery: the victim's next referral may go
        self._store(victim_key, replace_head(self._waiting[victim_key], recipient_id, failed))
        return False

    async def _give_up(self, victim_key: str, entry: dict, webhook: Webhook) -> None:
        why = f"no 2xx answer within {webhook.retry_hours:g} hours ({entry['attempts']} attempts)"
        await self._on_given_up(victim_key, record_of(entry), "webhook", why)

    def _store(self, victim_key: str, queues: Queues) -> None:
        if queues:
            self._waiting[victim_key] = queues
        elif victim_key in self._waiting:
            del self._waiting[victim_key]  # a tombstone: the changelog forgets the victim

    async def _send_due_retries(self) -> None:
        now, sent_before = self._clock.now(), time.monotonic() - RETRY_SENT_AGAIN_AFTER
        waiting: dict[str, list[datetime]] = defaultdict(list)
        for victim_key, queues in list(self._waiting.items()):
            for recipient_id, since in waiting_since(queues).items():
                waiting[recipient_id] += since
            for recipient_id in due_recipients(queues, now):
                sent = self._retries_sent.get((victim_key, recipient_id))
                if sent is None or sent < sent_before:
                    self._retries_sent[(victim_key, recipient_id)] = time.monotonic()
                    log.debug("webhook_retry_due", recipient=recipient_id)
                    await send_and_wait(self._retries, victim_key, recipient_id.encode())
        for recipient_id in self._secrets:
            since = waiting.get(recipient_id, [])
            WEBHOOK_WAITING.labels(recipient_id).set(len(since))
            WEBHOOK_OLDEST_WAITING.labels(recipient_id).set(
                (now - min(since)).total_seconds() if since else 0)
