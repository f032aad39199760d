"""`referral-hub watch TOPIC`: follow a topic and print each record as one JSON line.

For people trying the hub with `make up`. Incident and dead-letter topics hold personal
data: this prints it to your terminal, as reading the topic would.
"""
from __future__ import annotations

import json

from .avro import UnknownSchema, codec_for
from .kafka import replay_consumer
from .settings import HubSettings


def watch(settings: HubSettings, topic: str) -> int:
    codec = codec_for(settings)
    consumer = replay_consumer(settings.kafka, topic)
    try:
        while True:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                schema, record = codec.decode_any(message.value())
            except UnknownSchema:  # the raw input topic carries the police systems' JSON as sent
                schema, record = "raw", message.value().decode("utf-8", "replace")
            print(json.dumps({"schema": schema, "key": message.key().decode(), "record": record},
                             default=str), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()
