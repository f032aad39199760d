"""What the acknowledgement page needs: each school's Encompass notification, and whether
it has been acknowledged. Acknowledging writes the `acknowledged` event to contacts.v1,
once: the first press wins, however often the button is pressed."""
from __future__ import annotations

import asyncio
from datetime import datetime

from confluent_kafka import Consumer, Message

from referral_hub.kafka import produce_and_wait, replay_consumer
from referral_hub.records import contact_event
from referral_hub.topics import CONTACTS, DELIVERIES

from .follower import Follower
from .intake import Intake


class EncompassNotifications(Follower):
    """Follows deliveries.v1 for the records sent to schools, and contacts.v1 for their
    acknowledgements (which may also come from the area's coordinator through the API)."""

    def __init__(self, intake: Intake):
        super().__init__("encompass notifications")
        self._intake = intake
        self._records: dict[str, dict] = {}
        self._acknowledged: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    def get(self, referral_id: str) -> dict | None:
        record = self._records.get(referral_id)
        return record and record | {"acknowledged_at": self._acknowledged.get(referral_id)}

    async def acknowledge(self, referral_id: str, at: datetime) -> bool:
        async with self._lock:  # two presses at once: one event
            if referral_id in self._acknowledged:
                return False
            event = contact_event(self._records[referral_id], "acknowledged", at)
            await asyncio.to_thread(produce_and_wait, self._intake.producer, CONTACTS, referral_id,
                                    self._intake.codec.encode("contact-event", event))
            self._acknowledged[referral_id] = at
            return True

    def consumer(self) -> Consumer:
        return replay_consumer(self._intake.settings.kafka, DELIVERIES, CONTACTS)

    def handle(self, consumer: Consumer, message: Message) -> None:
        record_type, record = self._intake.codec.decode_any(message.value())
        if record_type == "recipient-encompass":
            self._records[record["referral_id"]] = record
        elif record_type == "contact-event" and record["type"] == "acknowledged":
            self._acknowledged.setdefault(record["referral_id"], record["at"])
