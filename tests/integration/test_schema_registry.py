"""With a schema registry configured, the hub runs end to end in the Confluent wire format,
and a consumer that knows nothing of the hub's code reads referrals.v1 with only the
registry's URL. The registry is a real one: Apicurio Registry 2.0.2, built from Maven
Central by deploy/registry/registry.sh, on its Confluent-compatible API.

The hub here has a broker of its own: the session's broker holds single-object encoded
records, which a hub in the wire format would take for unreadable ones.
"""
import os
import subprocess

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from referral_hub.adapters.kafka import replay_consumer
from referral_hub.settings import REPO_ROOT, KafkaSettings
from referral_hub.commands.stack import LocalBroker, Services
from referral_hub.adapters.topics import REFERRALS
from tests.factories import fresh_incident
from tests.integration.conftest import PORT_BASE, TEST_RUN_DIR
from tests.integration.kafka_helpers import post_incident, wait_until

REGISTRY_SCRIPT = REPO_ROOT / "deploy" / "registry" / "registry.sh"
REGISTRY_PORT = PORT_BASE + 98
REGISTRY_URL = f"http://127.0.0.1:{REGISTRY_PORT}/apis/ccompat/v6"
RUN_DIR = TEST_RUN_DIR / "registry"


def registry(command: str) -> None:
    subprocess.run(["bash", str(REGISTRY_SCRIPT), command], check=True,
                   env=os.environ | {"REGISTRY_PORT": str(REGISTRY_PORT),
                                     "REGISTRY_RUN_DIR": str(TEST_RUN_DIR.parent / "registry")})


@pytest.fixture(scope="module")
def registry_hub():
    registry("start")
    broker = LocalBroker(port=PORT_BASE + 96, controller_port=PORT_BASE + 97, run_dir=RUN_DIR / "kafka")
    broker.reset()
    broker.start()
    services = Services(broker, ports=(PORT_BASE + 70, PORT_BASE + 71, PORT_BASE + 72),
                        ingest_metrics_port=PORT_BASE + 73, log_dir=RUN_DIR / "logs",
                        settings={"RH_SCHEMA_REGISTRY_URL": REGISTRY_URL})
    try:
        services.start(timeout=120)
        yield services, broker
    finally:
        services.stop()
        broker.stop()
        registry("stop")


def test_a_consumer_with_only_the_registry_url_reads_the_referrals(registry_hub):
    services, broker = registry_hub
    notification = fresh_incident()
    with httpx.Client(base_url=services.urls()["ingest"], timeout=10) as api:
        assert post_incident(api, notification).status_code == 202

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": REGISTRY_URL}))
    consumer = replay_consumer(KafkaSettings(bootstrap_servers=broker.bootstrap), REFERRALS)
    read = []

    def referrals_read() -> bool:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            assert message.value()[:1] == b"\x00"  # the Confluent wire format's magic byte
            read.append(deserialize(message.value(), SerializationContext(REFERRALS, MessageField.VALUE)))
        return any(r["incident_id"] == notification["incident_id"] for r in read)

    try:
        wait_until(referrals_read, "the incident's referrals, read with the registry alone", timeout=90)
    finally:
        consumer.close()
    pathways = {r["pathway"] for r in read if r["incident_id"] == notification["incident_id"]}
    assert "MARAC" in pathways  # the example is high risk
    subjects = SchemaRegistryClient({"url": REGISTRY_URL}).get_subjects()
    assert "referralhub.v1.ReferralDecision" in subjects
    assert SchemaRegistryClient({"url": REGISTRY_URL}).get_compatibility(
        "referralhub.v1.ReferralDecision") == "BACKWARD"
