"""The ceiling for one Python process: a plain confluent-kafka loop that consumes incidents.v1,
applies the same rules with its histories in memory (OfflineRouter) and produces the records
the router writes for each incident (referral, delivery, `referred` or `recalled` contact
event, the forwards to the incident, pair and perpetrator stages), to topics of its own. No stream processor, no tables."""
from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import HubConfig
from referral_hub.core.disclosure import disclose
from referral_hub.core.incident import Incident
from referral_hub.adapters.kafka import ensure_topics
from referral_hub.adapters.records import LIFE_EVENTS, contact_event
from referral_hub.commands.route import OfflineRouter
from referral_hub.core.rules import pair_key, perpetrator_key
from referral_hub.settings import KafkaSettings
from referral_hub.adapters.topics import INCIDENTS
from referral_hub.services.router.app import routed_incident

OUTPUT = {name: f"bench.bare.{name}" for name in ("referrals", "deliveries", "contacts", "by-incident",
                                                  "by-pair", "by-perpetrator")}


def run(kafka: KafkaSettings, config: HubConfig, codec: AvroCodec, count: int) -> dict:
    """Process the first `count` incidents of incidents.v1; seconds (and this process's CPU
    seconds) from the first record read to the last record acknowledged, and how many
    decisions were made."""
    ensure_topics(kafka, list(OUTPUT.values()))
    consumer = Consumer(kafka.confluent() | {"group.id": "bench-bare-loop", "enable.auto.commit": False})
    partitions = consumer.list_topics(INCIDENTS, timeout=10).topics[INCIDENTS].partitions
    consumer.assign([TopicPartition(INCIDENTS, p, OFFSET_BEGINNING) for p in partitions])
    producer = Producer(kafka.confluent() | {"acks": "all", "enable.idempotence": True,
                                             "linger.ms": 5, "partitioner": "murmur2_random"})
    router, decisions, read, started, cpu = OfflineRouter(config), 0, 0, None, 0.0
    try:
        while read < count:
            for message in consumer.consume(500, 1.0):
                if started is None:
                    started, cpu = time.perf_counter(), time.process_time()
                read += 1
                incident = Incident.model_validate(codec.decode("incident", message.value()), strict=False)
                made = router.route(incident)
                decisions += len(made)
                for decision in made:
                    record = decision.as_record()
                    produce(producer, OUTPUT["referrals"], incident.key, codec.encode("referral", record))
                    produce(producer, OUTPUT["deliveries"], incident.key,
                             codec.encode(*disclose(decision, incident, config)))
                    if life := LIFE_EVENTS.get(decision.action):
                        produce(producer, OUTPUT["contacts"], decision.referral_id, codec.encode(
                            "contact-event", contact_event(record, life, incident.reported_at)))
                produce(producer, OUTPUT["by-incident"], incident.reference, message.value())
                if incident.perpetrator:
                    produce(producer, OUTPUT["by-pair"], pair_key(incident), codec.encode(
                        "routed-incident", routed_incident(message.value(), made)))
                    produce(producer, OUTPUT["by-perpetrator"], perpetrator_key(incident), message.value())
        producer.flush(60)
        return {"seconds": time.perf_counter() - started, "decisions": decisions,
                "cpu_seconds": time.process_time() - cpu}
    finally:
        consumer.close()


def produce(producer: Producer, topic: str, key: str, value: bytes) -> None:
    """Hand the record to librdkafka, waiting while its queue is full."""
    while True:
        try:
            producer.produce(topic, key=key.encode(), value=value)
            producer.poll(0)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.1)
