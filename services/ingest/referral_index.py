"""Ingest's read-only view of referrals.v1: which referral ids exist, and their pathway,
area and reported_at, so a recipient's report can be checked (404) and timed.

It replays the topic from the start at boot and then follows it, a few milliseconds behind.
"""
from __future__ import annotations

from datetime import datetime

from confluent_kafka import Consumer, Message

from referral_hub.adapters.avro import AvroCodec
from referral_hub.adapters.kafka import replay_consumer
from referral_hub.settings import KafkaSettings
from referral_hub.adapters.topics import CONTACTS, REFERRALS

from .follower import Follower


class ReferralIndex(Follower):
    def __init__(self, settings: KafkaSettings, codec: AvroCodec):
        super().__init__("referral index")
        self._settings = settings
        self._codec = codec
        self._referrals: dict[str, dict] = {}

    def get(self, referral_id: str) -> dict | None:
        return self._referrals.get(referral_id)

    def consumer(self) -> Consumer:
        return replay_consumer(self._settings, REFERRALS)

    def handle(self, consumer: Consumer, message: Message) -> None:
        referral = self._codec.decode("referral", message.value())
        self._referrals[referral["referral_id"]] = referral


class RecordedEvents(Follower):
    """What is already on contacts.v1: each event (so a report sent twice is one event) and
    each referral's first acknowledgement (for the Encompass acknowledgement page)."""

    def __init__(self, settings: KafkaSettings, codec: AvroCodec):
        super().__init__("recorded events")
        self._settings = settings
        self._codec = codec
        self._event_ids: set[str] = set()
        self._acknowledged: dict[str, datetime] = {}

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._event_ids

    def acknowledged_at(self, referral_id: str) -> datetime | None:
        return self._acknowledged.get(referral_id)

    def add(self, event: dict) -> None:
        """An event now on contacts.v1, read back or just written by this service."""
        self._event_ids.add(event["event_id"])
        if event["type"] == "acknowledged":
            self._acknowledged.setdefault(event["referral_id"], event["at"])

    def consumer(self) -> Consumer:
        return replay_consumer(self._settings, CONTACTS)

    def handle(self, consumer: Consumer, message: Message) -> None:
        self.add(self._codec.decode("contact-event", message.value()))
