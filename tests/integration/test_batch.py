"""streaming.Batch on the real broker: the router's and notify's promise that a history
(a table) is written only once the broker has every record its batch made."""
import asyncio
import uuid

import faust
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from referral_hub.adapters.kafka import _client_config, ensure_topics, make_producer
from referral_hub.adapters.streaming import Batch
from tests.integration.kafka_helpers import TopicReader

RECORDS = 500


class Event:
    """What a table write names as its event (faust's current event); only referred to."""


def new_topic(kafka, **config: str) -> faust.TopicT:
    name = f"test-batch-{uuid.uuid4().hex[:8]}"
    if config:  # a topic set up to refuse what the test sends
        admin = AdminClient(_client_config(kafka))
        admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(timeout=30)
    ensure_topics(kafka, [name])
    return faust.App("test-batch").topic(name)


def test_the_tables_are_written_once_the_broker_has_every_record(kafka, codec):
    topic, table = new_topic(kafka), {}
    batch = Batch(make_producer(kafka))
    for n in range(RECORDS):
        batch.send(topic, "victim-0", f"referral {n}".encode())  # one key: one partition, in order
    batch.write_after(Event(), table, "victim-0", ["incident 0"])
    assert table == {}  # nothing before done()

    asyncio.run(batch.done())

    assert table == {"victim-0": ["incident 0"]}
    reader = TopicReader(kafka, codec, topic.get_topic_name(), None)
    records = reader.wait_for(lambda r: len(r) >= RECORDS, f"{RECORDS} records", timeout=10)
    assert [value for _, value in records] == [f"referral {n}".encode() for n in range(RECORDS)]


def test_a_record_the_broker_refuses_stops_the_batch_before_any_table_is_written(kafka):
    topic, table = new_topic(kafka, **{"max.message.bytes": "200"}), {}
    batch = Batch(make_producer(kafka))
    batch.send(topic, "victim-1", b"small")
    batch.send(topic, "victim-2", b"x" * 1000)  # over the topic's limit
    batch.write_after(Event(), table, "victim-1", ["incident 1"])

    with pytest.raises(KafkaException, match="MSG_SIZE_TOO_LARGE"):
        asyncio.run(batch.done())
    assert table == {}  # the events are processed again after the restart, none lost
