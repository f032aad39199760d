"""Validates JSON notifications that police systems publish to incidents.raw.v1.

Exactly the checks of the HTTP API: valid ones go to incidents.v1, refused ones to the
dead-letter topic with every reason. The offset is committed only after the result is
on the broker, so a crash re-reads rather than loses (at-least-once; the router ignores
an incident it has already seen).
"""
from __future__ import annotations

import threading

from referral_hub.kafka import make_consumer
from referral_hub.logs import get_logger
from referral_hub.topics import INCIDENTS_RAW
from referral_hub.validation import Refused

from .intake import Intake

log = get_logger()
GROUP_ID = "referral-hub-ingest-raw"


class RawTopicValidator:
    def __init__(self, intake: Intake):
        self._intake = intake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="raw-topic", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _follow(self) -> None:
        consumer = make_consumer(self._intake.settings.kafka, GROUP_ID)
        consumer.subscribe([INCIDENTS_RAW])
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                try:
                    self._intake.take(message.value() or b"", source=INCIDENTS_RAW)
                except Refused:
                    pass  # dead-lettered with its reasons by take(); on to the next record
                consumer.commit(message=message, asynchronous=False)
        except Exception:  # the broker is gone or the DLQ unwritable: /healthz turns 503
            log.exception("raw_topic_validator_failed")
        finally:
            consumer.close()
