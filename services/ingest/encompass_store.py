"""What the acknowledgement page needs: each school's Encompass notification, and whether
it has been acknowledged. Acknowledging writes the `acknowledged` event to contacts.v1,
once: the first press wins, however often the button is pressed."""
from __future__ import annotations

import asyncio
from datetime import datetime

from confluent_kafka import Consumer, Message

from referral_hub.adapters.kafka import produce_and_wait, replay_consumer
from referral_hub.adapters.records import contact_event
from referral_hub.adapters.topics import CONTACTS, DELIVERIES

from .follower import Follower
from .intake import Intake
from .referral_index import RecordedEvents


class EncompassNotifications(Follower):
    """Follows deliveries.v1 for the records sent to schools. Acknowledgements, whether from
    the page or from the area's coordinator through the API, are in RecordedEvents."""

    def __init__(self, intake: Intake, recorded: RecordedEvents):
        super().__init__("encompass notifications")
        self._intake = intake
        self._recorded = recorded
        self._records: dict[str, dict] = {}
        self._lock = asyncio.Lock()

    def get(self, referral_id: str) -> dict | None:
        record = self._records.get(referral_id)
        return record and record | {"acknowledged_at": self._recorded.acknowledged_at(referral_id)}

    async def acknowledge(self, referral_id: str, at: datetime) -> bool:
        async with self._lock:  # two presses at once: one event
            if self._recorded.acknowledged_at(referral_id):
                return False
            event = contact_event(self._records[referral_id], "acknowledged", at)
            await asyncio.to_thread(produce_and_wait, self._intake.producer, CONTACTS, referral_id,
                                    self._intake.codec.encode("contact-event", event))
            self._recorded.add(event)
            return True

    def consumer(self) -> Consumer:
        return replay_consumer(self._intake.settings.kafka, DELIVERIES)

    def handle(self, consumer: Consumer, message: Message) -> None:
        record_type, record = self._intake.codec.decode_any(message.value())
        if record_type == "recipient-encompass":  # an amend replaces the earlier record
            self._records[record["referral_id"]] = record
        elif record_type == "recipient-recall" and record["referral_id"] in self._records:
            # Withdrawn: the page may say so and nothing else, so nothing else is kept.
            self._records[record["referral_id"]] = {"withdrawn": True}
