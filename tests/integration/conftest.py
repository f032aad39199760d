"""The hub on the project's own Kafka broker, once per test session.

Test ports (19092, 18080-18082) and a run directory of its own keep the suite clear of a
`make up` that may be running on the same machine.
"""
import shutil

import httpx
import pytest

from referral_hub.avro import AvroCodec
from referral_hub.config import load_config
from referral_hub.settings import REPO_ROOT, KafkaSettings
from referral_hub.stack import LocalBroker, Services
from tests.integration.kafka_helpers import TopicReader

TEST_RUN_DIR = REPO_ROOT / ".run" / "test"
CLOCK_FILE = TEST_RUN_DIR / "clock"  # empty or absent: real time (referral_hub/clock.py)


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker():
    broker = LocalBroker(port=19092, controller_port=19093, run_dir=TEST_RUN_DIR / "kafka")
    broker.reset()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def hub(broker):
    """The services with RocksDB state, as in production, fresh like the broker."""
    for stale in ("logs", "state"):
        shutil.rmtree(TEST_RUN_DIR / stale, ignore_errors=True)
    CLOCK_FILE.unlink(missing_ok=True)
    services = Services(broker, ports=(18080, 18081, 18082), log_dir=TEST_RUN_DIR / "logs",
                        state_dir=TEST_RUN_DIR / "state",
                        settings={"RH_CLOCK_FILE": str(CLOCK_FILE), "RH_OVERDUE_CHECK_SECONDS": "1"})
    services.start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def kafka(broker):
    return KafkaSettings(bootstrap_servers=broker.bootstrap)


@pytest.fixture(scope="session")
def codec():
    return AvroCodec(REPO_ROOT / "schemas" / "avro")


@pytest.fixture(scope="session")
def config():
    return load_config(REPO_ROOT / "config")


@pytest.fixture
def clock(hub):
    """clock(datetime) sets the time the services act on; real time again afterwards."""
    yield lambda moment: CLOCK_FILE.write_text(moment.isoformat())
    CLOCK_FILE.unlink(missing_ok=True)


@pytest.fixture
def api(hub):
    with httpx.Client(base_url=hub.urls()["ingest"], timeout=10) as client:
        yield client


@pytest.fixture
def topic(kafka, codec):
    """topic(name, schema) -> a reader of that topic from its beginning."""
    readers = []

    def open_reader(name, schema=None):
        readers.append(TopicReader(kafka, codec, name, schema))
        return readers[-1]

    yield open_reader
    for reader in readers:
        reader.close()
