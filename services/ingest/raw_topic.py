"""Validates JSON notifications that police systems publish to their force's raw topic,
incidents.raw.<force>.v1.

Exactly the checks of the HTTP API, the topic standing for the API key: a notification
whose `force` is not the topic's is refused. Valid ones go to incidents.v1, refused ones
to the dead-letter topic with every reason. The offset is committed only after the result is
on the broker, so a crash re-reads rather than loses (at-least-once; the router ignores
an incident it has already seen).
"""
from __future__ import annotations

from confluent_kafka import Consumer, Message

from referral_hub.adapters.kafka import make_consumer
from referral_hub.adapters.topics import force_of_raw_topic, raw_topics
from referral_hub.core.validation import Refused

from .follower import Follower
from .intake import Intake

GROUP_ID = "referral-hub-ingest-raw"


class RawTopicValidator(Follower):
    def __init__(self, intake: Intake):
        super().__init__("raw topic")
        self._intake = intake

    def consumer(self) -> Consumer:
        consumer = make_consumer(self._intake.settings.kafka, GROUP_ID)
        consumer.subscribe(raw_topics(self._intake.config.forces))
        return consumer

    def handle(self, consumer: Consumer, message: Message) -> None:
        try:
            self._intake.take(message.value() or b"", source=message.topic(),
                              force=force_of_raw_topic(message.topic()))
        except Refused:
            pass  # dead-lettered with its reasons by take(); on to the next record
        consumer.commit(message=message, asynchronous=False)
