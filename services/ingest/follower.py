"""A background thread that reads one topic until stopped; ingest's /healthz watches it."""
from __future__ import annotations

import threading

from confluent_kafka import Consumer, Message

from referral_hub.adapters.logs import get_logger

log = get_logger()


class Follower:
    def __init__(self, name: str):
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def consumer(self) -> Consumer:
        raise NotImplementedError

    def handle(self, consumer: Consumer, message: Message) -> None:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        consumer = self.consumer()
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is not None and not message.error():
                    self.handle(consumer, message)
        except Exception:  # the broker is gone or a write failed: /healthz turns 503
            log.exception("follower_failed", source=self.name)
        finally:
            consumer.close()
