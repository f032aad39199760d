"""Consumer lag, per consumer group and topic, as a gauge on the service's own /metrics.

Lag is each partition's high watermark less the group's committed offset (all of the
partition when nothing is committed yet), summed per topic. The reader asks for committed
offsets without subscribing, so it never joins, or disturbs, the group it measures.
"""
from __future__ import annotations

import threading

from confluent_kafka import TopicPartition

from referral_hub.adapters.kafka import make_consumer
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import CONSUMER_LAG
from referral_hub.settings import KafkaSettings

log = get_logger()


def consumer_lag(settings: KafkaSettings, group: str, topics: list[str]) -> dict[str, int]:
    consumer = make_consumer(settings, group)
    try:
        lag = {}
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            total = 0
            for position in committed:
                low, high = consumer.get_watermark_offsets(position, timeout=10)
                total += high - (position.offset if position.offset >= 0 else low)
            lag[topic] = total
        return lag
    finally:
        consumer.close()


class LagReporter:
    """Refreshes the lag gauge every `interval` seconds in a daemon thread."""

    def __init__(self, settings: KafkaSettings, group: str, topics: list[str], interval: float = 30.0):
        self._args = (settings, group, topics)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consumer-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        _settings, group, _topics = self._args
        while True:
            try:
                for topic, lag in consumer_lag(*self._args).items():
                    CONSUMER_LAG.labels(group, topic).set(lag)
            except Exception:  # the broker may be away for a moment: try again next time
                log.exception("consumer_lag_unavailable", source=group)
            if self._stop.wait(self._interval):
                return
