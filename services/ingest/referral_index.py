"""Ingest's read-only view of referrals.v1: which referral ids exist, and their pathway,
area and reported_at, so a recipient's report can be checked (404) and timed.

It replays the topic from the start at boot and then follows it, a few milliseconds behind.
"""
from __future__ import annotations

import threading

from referral_hub.avro import AvroCodec
from referral_hub.kafka import replay_consumer
from referral_hub.logs import get_logger
from referral_hub.settings import KafkaSettings
from referral_hub.topics import REFERRALS

log = get_logger()


class ReferralIndex:
    def __init__(self, settings: KafkaSettings, codec: AvroCodec):
        self._settings = settings
        self._codec = codec
        self._referrals: dict[str, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="referral-index", daemon=True)

    def get(self, referral_id: str) -> dict | None:
        return self._referrals.get(referral_id)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _follow(self) -> None:
        consumer = replay_consumer(self._settings, REFERRALS)
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                referral = self._codec.decode("referral", message.value())
                self._referrals[referral["referral_id"]] = referral
        except Exception:  # /healthz turns 503 once this thread has stopped
            log.exception("referral_index_failed")
        finally:
            consumer.close()
