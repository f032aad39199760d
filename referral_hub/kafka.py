"""confluent-kafka producers, consumers and topic administration, configured from settings."""
from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .settings import KafkaSettings


LIBRDKAFKA_LOG = logging.getLogger("librdkafka")  # its lines join our JSON logs


def _client_config(settings: KafkaSettings) -> dict:
    return settings.confluent() | {"logger": LIBRDKAFKA_LOG}


def make_producer(settings: KafkaSettings) -> Producer:
    # acks=all with idempotence: an accepted notification is on the broker, once.
    # murmur2 as in Java and aiokafka (faust): one key, one partition, whoever writes it.
    producer = Producer(_client_config(settings) | {"acks": "all", "enable.idempotence": True,
                                                    "linger.ms": 5, "partitioner": "murmur2_random"})
    # Delivery reports are served here, so a thread waiting for its record (produce_and_wait)
    # sleeps on an event instead of polling: ingest's request threads would otherwise take
    # turns at the GIL every few milliseconds.
    threading.Thread(target=_serve_delivery_reports, args=(producer,), daemon=True,
                     name="delivery-reports").start()
    return producer


def _serve_delivery_reports(producer: Producer) -> None:
    while True:
        producer.poll(0.1)


def produce_and_wait(producer: Producer, topic: str, key: str, value: bytes,
                     timeout: float = 10.0) -> None:
    """Write one record and return only once the broker has it (raise otherwise). Waits for
    this record alone: a flush() would also wait for every record other threads (ingest's
    requests) keep adding, and under load that is seconds."""
    delivered, outcome = threading.Event(), []

    def on_delivery(err, _msg):
        outcome.append(err)
        delivered.set()

    producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
    if not delivered.wait(timeout):
        raise KafkaException(f"no acknowledgement from {topic}")
    if outcome[0] is not None:
        raise KafkaException(outcome[0])


def make_consumer(settings: KafkaSettings, group_id: str) -> Consumer:
    """A group member that commits only when told (at-least-once)."""
    return Consumer(_client_config(settings) | {
        "group.id": group_id, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "enable.partition.eof": False})


def replay_consumer(settings: KafkaSettings, *topics: str, timeout: float = 30.0) -> Consumer:
    """Reads every partition of the topics from their beginning, at once: no group to join."""
    consumer = make_consumer(settings, f"referral-hub-replay-{uuid.uuid4()}")
    deadline = time.monotonic() + timeout
    assignment = []
    for topic in topics:
        # A topic created a moment ago may not show its partitions in the metadata yet.
        while not (partitions := consumer.list_topics(topic, timeout=10).topics[topic].partitions):
            if time.monotonic() > deadline:
                consumer.close()
                raise KafkaException(f"topic {topic} has no partitions after {timeout:.0f}s")
            time.sleep(0.2)
        assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
    consumer.assign(assignment)
    return consumer


def ensure_topics(settings: KafkaSettings, names: list[str] | tuple[str, ...],
                  compacted: bool = False, timeout: float = 30.0) -> None:
    """Create whichever topics do not exist yet (the broker does not auto-create them), and
    return once the metadata shows every one with its partitions: faust checks them at start.
    Compacted topics keep the latest record per key: the changelogs of faust's tables."""
    admin = AdminClient(_client_config(settings))
    existing = set(admin.list_topics(timeout=15).topics)
    wanted = [NewTopic(name, num_partitions=settings.topic_partitions,
                       replication_factor=settings.topic_replication_factor,
                       config={"cleanup.policy": "compact"} if compacted else {})
              for name in names if name not in existing]
    for future in (admin.create_topics(wanted) if wanted else {}).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a sibling service won the race
                raise
    deadline = time.monotonic() + timeout
    while missing := [name for name in names
                      if not admin.list_topics(name, timeout=10).topics[name].partitions]:
        if time.monotonic() > deadline:
            raise KafkaException(f"topics without partitions after {timeout:.0f}s: {missing}")
        time.sleep(0.2)
