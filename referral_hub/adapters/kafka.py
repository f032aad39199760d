"""confluent-kafka producers, consumers and topic administration, configured from settings."""
from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from referral_hub.settings import KafkaSettings


LIBRDKAFKA_LOG = logging.getLogger("librdkafka")  # its lines join our JSON logs


class KafkaUnavailable(Exception):
    """No broker answers, or a topic is not there: a setting to fix, said in one line."""


def _client_config(settings: KafkaSettings) -> dict:
    return settings.confluent() | {"logger": LIBRDKAFKA_LOG}


DELIVERY_TIMEOUT_SECONDS = 10


class NotConfirmed(Exception):
    """The broker did not confirm a write within DELIVERY_TIMEOUT_SECONDS. The record may
    be on the broker (a write can land as its confirmation is lost) or not; either way the
    producer has given it up, so it will not be written later."""


def existing_topics(settings: KafkaSettings, timeout: float = 5.0) -> set[str]:
    """The broker's topic names; KafkaUnavailable if no broker answers within `timeout`."""
    try:
        metadata = AdminClient(_client_config(settings)).list_topics(timeout=timeout)
    except KafkaException:
        raise KafkaUnavailable(f"no Kafka broker answered at {settings.bootstrap_servers} "
                               f"within {timeout:.0f} s") from None
    return set(metadata.topics)


def require_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """KafkaUnavailable, naming them, if any of the topics does not exist (or no broker answers)."""
    if missing := sorted(set(topics) - existing_topics(settings)):
        raise KafkaUnavailable(f"no topic {', '.join(missing)} on {settings.bootstrap_servers}")


class _Producer(Producer):
    """confluent-kafka's Producer, which (a C type) cannot be referred to weakly; this can."""


def make_producer(settings: KafkaSettings, delivery_timeout_seconds: int = DELIVERY_TIMEOUT_SECONDS) -> Producer:
    # acks=all with idempotence: an accepted notification is on the broker, once.
    # murmur2 as in Java and aiokafka (faust): one key, one partition, whoever writes it.
    # A record not confirmed in `delivery_timeout_seconds` is given up (librdkafka's default
    # is 5 minutes): produce_and_wait's caller learns its fate before it answers anyone.
    # linger 1 ms, not librdkafka's 5: every POST waits for its record, so the linger is in
    # ingest's every answer; under load the records queued while a request is out still
    # go together (make bench: ingest p50 15 -> 10 ms at 50/s).
    producer = _Producer(_client_config(settings) | {"acks": "all", "enable.idempotence": True,
                                                    "linger.ms": 1, "partitioner": "murmur2_random",
                                                    "message.timeout.ms": delivery_timeout_seconds * 1000})
    # Delivery reports are served here, so a thread waiting for its record (produce_and_wait)
    # sleeps on an event instead of polling: ingest's request threads would otherwise take
    # turns at the GIL every few milliseconds.
    threading.Thread(target=_serve_delivery_reports, args=(weakref.ref(producer),), daemon=True,
                     name="delivery-reports").start()
    return producer


def _serve_delivery_reports(producer_ref: weakref.ref) -> None:
    """Until the producer is gone: the thread holds it only weakly, so a producer its owner
    dropped is freed (librdkafka's connections closed with it) and the thread ends, instead
    of polling a broker long stopped for as long as the process lives."""
    while (producer := producer_ref()) is not None:
        producer.poll(0.1)
        del producer  # no strong reference while the next turn looks


def produce_and_wait(producer: Producer, topic: str, key: str, value: bytes) -> None:
    """Write one record and return only once the broker has it; raise NotConfirmed once
    the producer has given it up. Waits for this record alone: a flush() would also wait
    for every record other threads (ingest's requests) keep adding, and under load that
    is seconds."""
    delivered, outcome = threading.Event(), []

    def on_delivery(err, _msg):
        outcome.append(err)
        delivered.set()

    try:
        producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
    except BufferError:  # the producer's queue is full: the broker has been away a while
        raise NotConfirmed(f"{topic}: the producer's queue is full") from None
    # The delivery report comes within the message timeout; the margin is for a loaded machine.
    if not delivered.wait(DELIVERY_TIMEOUT_SECONDS + 5):
        raise NotConfirmed(f"{topic}: no delivery report")
    if outcome[0] is not None:
        raise NotConfirmed(f"{topic}: {outcome[0]}")


def without_leader(client: Producer | Consumer, topics: tuple[str, ...], timeout: float = 2.0) -> list[str]:
    """The topics of these that cannot be written now: no answer from the cluster, or a
    partition without a leader. (A partition short of min.insync.replicas still shows a
    leader: a write there fails after its timeout, and is refused, not lost.)"""
    try:
        metadata = client.list_topics(timeout=timeout)
    except KafkaException:
        return list(topics)
    return [name for name in topics
            if name not in metadata.topics or not metadata.topics[name].partitions
            or any(p.leader < 0 for p in metadata.topics[name].partitions.values())]


def make_consumer(settings: KafkaSettings, group_id: str,
                  on_error: Callable[[KafkaError], None] | None = None) -> Consumer:
    """A group member that commits only when told (at-least-once). `on_error` hears the
    client's errors (e.g. all brokers down) instead of the log."""
    return Consumer(_client_config(settings) | {
        "group.id": group_id, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "enable.partition.eof": False}
        | ({"error_cb": on_error} if on_error else {}))


def replay_consumer(settings: KafkaSettings, *topics: str, timeout: float = 30.0,
                    on_error: Callable[[KafkaError], None] | None = None) -> Consumer:
    """Reads every partition of the topics from their beginning, at once: no group to join."""
    consumer = make_consumer(settings, f"referral-hub-replay-{uuid.uuid4()}", on_error)
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
                       config=settings.topic_config(compacted))
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
