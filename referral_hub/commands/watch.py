"""`referral-hub watch TOPIC`: follow a topic and print each record as one JSON line.

For people trying the hub with `make up`. Incident and dead-letter topics hold personal
data: this prints it to your terminal, as reading the topic would.
"""
from __future__ import annotations

import json
import sys
from typing import TextIO

from confluent_kafka import KafkaError

from referral_hub.adapters.avro import UnknownSchema, codec_for
from referral_hub.adapters.kafka import replay_consumer, require_topics
from referral_hub.settings import HubSettings


class BrokerTrouble:
    """Says on stderr, once per kind, when the client loses the broker (it keeps retrying)."""

    def __init__(self, err: TextIO):
        self.err, self.said = err, set()

    def __call__(self, error: KafkaError) -> None:
        if error.code() not in self.said:
            self.said.add(error.code())
            print(f"watch: Kafka: {error.str()} (still trying; Ctrl-C stops)", file=self.err, flush=True)


def watch(settings: HubSettings, topic: str, most: int | None = None,
          out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the topic's records from its start, until Ctrl-C or `most` records."""
    require_topics(settings.kafka, [topic])
    codec = codec_for(settings)
    consumer = replay_consumer(settings.kafka, topic, on_error=BrokerTrouble(err))
    until = f"{most} record(s)" if most is not None else "Ctrl-C"
    print(f"watch: {topic} on {settings.kafka.bootstrap_servers} from its start, following "
          f"until {until}", file=err, flush=True)
    printed = 0
    try:
        while most is None or printed < most:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                schema, record = codec.decode_any(message.value())
            except UnknownSchema:  # the raw input topic carries the police systems' JSON as sent
                schema, record = "raw", message.value().decode("utf-8", "replace")
            print(json.dumps({"schema": schema, "key": message.key().decode(), "record": record},
                             default=str), file=out, flush=True)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0
