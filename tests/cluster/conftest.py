"""The hub in production shape: a three-node Kafka cluster (deploy/kafka/cluster.sh), topics
at replication 3 with min.insync.replicas 2, and two instances of each service.

Not part of `make test`: `make cluster-test` runs it (pytest -m cluster). Ports come from
RH_TEST_PORT_BASE like the integration tests', 100 above them: the nodes on base+101..103
(controllers base+111..113), instance A of the services on base+180..182, B on
base+183..185 (their ingests' /metrics on base+186 and base+187), the webhook recipients
on base+190.

Sefton's MARAC and IDVA take referrals by webhook, so "none delivered twice" is checked
where it matters most: at a recipient's door.
"""
import os
import shutil

import pytest

from referral_hub.config import load_config
from referral_hub.commands.demo import set_recipient, webhook_settings
from referral_hub.settings import REPO_ROOT, KafkaSettings
from referral_hub.commands.stack import SERVICES, LocalCluster, Services
from referral_hub.services.notify.sample_receiver import SampleReceiver
from tests.integration.conftest import codec, topic  # noqa: F401  (fixtures, on this cluster's `kafka`)

RUN_DIR = REPO_ROOT / ".run" / "test" / "cluster"
PORT_BASE = int(os.environ.get("RH_TEST_PORT_BASE", "18000")) + 100
INSTANCE_PORTS = {"A": (PORT_BASE + 80, PORT_BASE + 81, PORT_BASE + 82),
                  "B": (PORT_BASE + 83, PORT_BASE + 84, PORT_BASE + 85)}
INGEST_METRICS_PORTS = {"A": PORT_BASE + 86, "B": PORT_BASE + 87}
WEBHOOK_PORT = PORT_BASE + 90
WEBHOOK_SECRET = "cluster-test-webhook-secret-0123"
WEBHOOK_RECIPIENTS = ("sefton-marac", "sefton-idva")
# Every incident is reported on 2026-11-20; at this time none is overdue yet, so the
# tracker sends no overdue notices to muddle the counts.
NOW = "2026-11-21T00:00:00+00:00"
RESULTS: list[str] = []  # one line of counts per scenario, printed at the end


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("cluster test counts")
        for line in RESULTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def cluster():
    cluster = LocalCluster(port_base=PORT_BASE, run_dir=RUN_DIR / "kafka")
    cluster.reset()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def receiver():
    recipients = SampleReceiver(WEBHOOK_PORT, WEBHOOK_SECRET.encode(), answer_for_seconds=0)
    recipients.start()
    yield recipients
    recipients.stop()


@pytest.fixture(scope="session")
def config_dir():
    target = RUN_DIR / "config"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "config", target)
    for role, recipient in (("MARAC", "sefton-marac"), ("IDVA", "sefton-idva")):
        set_recipient(target / "areas" / "sefton.toml", role, webhook_settings(
            f"http://127.0.0.1:{WEBHOOK_PORT}/{recipient}", "RH_TEST_WEBHOOK_SECRET", 5))
    return target


@pytest.fixture(scope="session")
def hub(cluster, receiver, config_dir):
    """Instances A and B of every service, RocksDB state each, as in production."""
    for stale in ("logs", "state"):
        shutil.rmtree(RUN_DIR / stale, ignore_errors=True)
    (RUN_DIR / "clock").write_text(NOW)
    settings = cluster.topic_settings | {
        "RH_CONFIG_DIR": str(config_dir), "RH_CLOCK_FILE": str(RUN_DIR / "clock"),
        "RH_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET, "RH_WEBHOOK_CHECK_SECONDS": "1"}
    instances = {name: Services(cluster, ports=ports, ingest_metrics_port=INGEST_METRICS_PORTS[name],
                                log_dir=RUN_DIR / "logs" / name,
                                state_dir=RUN_DIR / "state" / name, settings=settings)
                 for name, ports in INSTANCE_PORTS.items()}
    try:
        for services in instances.values():
            services.start(timeout=180)
        yield instances
    finally:
        for services in instances.values():
            services.stop()


@pytest.fixture
def all_running(hub):
    """Each test starts and ends with every instance running (a test restarts what it kills)."""
    yield hub
    for services in hub.values():
        for name in SERVICES:
            if services.state(name) != "running":
                services.processes.pop(name, None)
                services.start_one(name)
        services.wait_ready(180)


@pytest.fixture(scope="session")
def kafka(cluster):
    return KafkaSettings(bootstrap_servers=cluster.bootstrap)


@pytest.fixture(scope="session")
def config(config_dir):
    return load_config(config_dir)
