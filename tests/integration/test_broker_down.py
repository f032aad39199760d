"""When the broker is away, ingest says so truthfully (503, Retry-After, JSON) and keeps
nothing behind the caller's back: what it answered 503 is not written once the broker is
back, and sending it again then is accepted once.

An ingest of its own on a broker of its own: the session's broker and hub stay untouched.
"""
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from referral_hub.adapters.kafka import DELIVERY_TIMEOUT_SECONDS
from referral_hub.adapters.topics import INCIDENTS
from referral_hub.commands.stack import LocalBroker, Services
from referral_hub.settings import KafkaSettings
from tests.factories import fresh_incident
from tests.integration.conftest import PORT_BASE, TEST_RUN_DIR
from tests.integration.kafka_helpers import TopicReader, post_incident, wait_until

INGEST_PORT, METRICS_PORT = PORT_BASE + 84, PORT_BASE + 85


@pytest.fixture(scope="module")
def own_broker():
    broker = LocalBroker(port=PORT_BASE + 94, controller_port=PORT_BASE + 95,
                         run_dir=TEST_RUN_DIR / "kafka-broker-down")
    broker.reset()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def own_ingest(own_broker, config_dir):
    services = Services(own_broker, ports=(INGEST_PORT, 0, 0), ingest_metrics_port=METRICS_PORT,
                        log_dir=TEST_RUN_DIR / "logs-broker-down",
                        settings={"RH_CONFIG_DIR": str(config_dir)})
    services.start_one("ingest")
    url = f"http://127.0.0.1:{INGEST_PORT}"
    wait_until(lambda: _answers(url + "/healthz"), "the broker-down test's own ingest to start")
    try:
        with httpx.Client(base_url=url, timeout=DELIVERY_TIMEOUT_SECONDS + 30) as client:
            yield client
    finally:
        services.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_with_the_broker_down_ingest_answers_503_and_writes_nothing_later(own_broker, own_ingest, codec):
    assert post_incident(own_ingest, fresh_incident()).status_code == 202
    own_broker.stop()
    unconfirmed = [fresh_incident() for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(unconfirmed)) as pool:  # a burst, as in the incident seen
            answers = list(pool.map(lambda n: post_incident(own_ingest, n), unconfirmed))
    finally:
        own_broker.start()
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["Retry-After"].isdigit()
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["status"] == "not confirmed"
        assert "resending is always safe" in answer.json()["detail"]

    # An incident accepted now has gone through the same producer: anything still queued
    # from before would have been written ahead of it.
    later = fresh_incident()
    wait_until(lambda: post_incident(own_ingest, later).status_code == 202, "ingest to accept again")
    incidents = TopicReader(KafkaSettings(bootstrap_servers=own_broker.bootstrap), codec, INCIDENTS, "incident")
    try:
        incidents.read_to_end()
        assert incidents.values(incident_id=later["incident_id"])
        for notification in unconfirmed:
            assert incidents.values(incident_id=notification["incident_id"]) == []

        resent = unconfirmed[0]  # the integrator's move: the same notification again
        assert post_incident(own_ingest, resent).status_code == 202
        incidents.read_to_end()
        assert len(incidents.values(incident_id=resent["incident_id"])) == 1
    finally:
        incidents.close()

