"""The hub on the project's own Kafka broker, once per test session.

Test ports come from one setting, RH_TEST_PORT_BASE (default 18000), and all lie in
base..base+99: mail base+25; ingest, router and notify base+80..82, ingest's /metrics
base+83 (the broker-down test's own ingest base+84..85); webhooks base+90, Prometheus
base+91, the broker base+92 (controller base+93; the broker-down test's base+94..95);
the schema registry test's services base+70..73, broker base+96..97, registry base+98.
`make cluster-test` uses base+100..199 (tests/cluster/conftest.py). With a run directory
of their own per checkout, two checkouts run their suites side by side with bases at
least 200 apart, clear of a `make up`.

The hub runs on the shipped configuration with one change, so every channel is exercised:
Sefton's MARAC and IDVA take referrals by webhook (the `webhooks` recipient server below)
and Sefton's community service by email (the `mailbox`).
"""
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from referral_hub.adapters.avro import AvroCodec
from referral_hub.adapters.clock import set_clock_file
from referral_hub.config import load_config
from referral_hub.commands.demo import set_recipient, webhook_settings
from referral_hub.settings import REPO_ROOT, KafkaSettings
from referral_hub.commands.stack import SERVICES, LocalBroker, Services
from referral_hub.services.notify.sample_receiver import SampleReceiver
from tests.integration.kafka_helpers import TopicReader

TEST_RUN_DIR = REPO_ROOT / ".run" / "test"
PORT_BASE = int(os.environ.get("RH_TEST_PORT_BASE", "18000"))
SERVICE_PORTS = (PORT_BASE + 80, PORT_BASE + 81, PORT_BASE + 82)
INGEST_METRICS_PORT = PORT_BASE + 83
PROMETHEUS_PORT = PORT_BASE + 91
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")  # Debian's
SMTP_PORT = PORT_BASE + 25
ACK_SECRET = "test-ack-secret-0123456789"
CLOCK_FILE = TEST_RUN_DIR / "clock"  # empty or absent: real time (referral_hub/adapters/clock.py)
TEST_CONFIG_DIR = TEST_RUN_DIR / "config"
WEBHOOK_PORT = PORT_BASE + 90
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
WEBHOOK_TIMEOUT_SECONDS = 2
SEFTON_CHANNELS = {
    role: webhook_settings(f"http://127.0.0.1:{WEBHOOK_PORT}/{name}", "RH_TEST_WEBHOOK_SECRET",
                           WEBHOOK_TIMEOUT_SECONDS)
    for role, name in (("MARAC", "sefton-marac"), ("IDVA", "sefton-idva"))
} | {"COMMUNITY_ADVOCACY": 'channel = "email"'}


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed integration test's report says whether each service is still running and
    shows its last warnings: CI keeps only pytest's output, not the services' log files.
    (The logs hold no personal data; tests/integration/test_personal_data.py.)"""
    report = yield
    services = item.funcargs.get("hub") if hasattr(item, "funcargs") else None
    if report.failed and report.when == "call" and services is not None:
        for name in SERVICES:
            report.sections.append((f"{name}: {services.state(name)}", _last_warnings(name)))
    return report


def _last_warnings(service: str, count: int = 8) -> str:
    log = TEST_RUN_DIR / "logs" / f"{service}.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    warnings = [line for line in lines if _level(line) not in ("debug", "info")]
    return "\n".join(line[:300] for line in warnings[-count:]) or "(no warnings)"


def _level(line: str) -> str:
    try:
        return json.loads(line).get("level", "")
    except (json.JSONDecodeError, AttributeError):
        return "unstructured"  # a traceback or a library writing to stderr


@pytest.fixture(scope="session")
def broker():
    broker = LocalBroker(port=PORT_BASE + 92, controller_port=PORT_BASE + 93, run_dir=TEST_RUN_DIR / "kafka")
    broker.reset()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def config_dir():
    """The shipped configuration with Sefton's channels changed (SEFTON_CHANNELS)."""
    shutil.rmtree(TEST_CONFIG_DIR, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "config", TEST_CONFIG_DIR)
    for role, settings in SEFTON_CHANNELS.items():
        set_recipient(TEST_CONFIG_DIR / "areas" / "sefton.toml", role, settings)
    return TEST_CONFIG_DIR


@pytest.fixture(scope="session")
def hub(broker, mailbox, webhooks, config_dir):
    """The services with RocksDB state, as in production, fresh like the broker."""
    for stale in ("logs", "state"):
        shutil.rmtree(TEST_RUN_DIR / stale, ignore_errors=True)
    CLOCK_FILE.unlink(missing_ok=True)
    services = Services(broker, ports=SERVICE_PORTS, ingest_metrics_port=INGEST_METRICS_PORT, log_dir=TEST_RUN_DIR / "logs",
                        state_dir=TEST_RUN_DIR / "state",
                        settings={"RH_CONFIG_DIR": str(config_dir),
                                  "RH_CLOCK_FILE": str(CLOCK_FILE), "RH_OVERDUE_CHECK_SECONDS": "1",
                                  "RH_HISTORY_CHECK_SECONDS": "2",
                                  "RH_WEBHOOK_CHECK_SECONDS": "1",
                                  "RH_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
                                  "RH_SMTP_ENABLED": "true", "RH_SMTP_PORT": str(SMTP_PORT),
                                  "RH_ACK_SECRET": ACK_SECRET,
                                  "RH_PUBLIC_BASE_URL": f"http://127.0.0.1:{SERVICE_PORTS[0]}"})
    services.start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def mailbox():
    """A real SMTP server on loopback: the schools' mail server. Its messages, as received."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    controller = Controller(Keep(), hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield received
    controller.stop()


@pytest.fixture(scope="session")
def webhooks():
    """A real HTTP server on loopback: the case systems behind Sefton's webhooks."""
    recipients = SampleReceiver(WEBHOOK_PORT, WEBHOOK_SECRET.encode(),
                                answer_for_seconds=WEBHOOK_TIMEOUT_SECONDS + 1)
    recipients.start()
    yield recipients
    recipients.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Debian's chromium, headless, as a phone; driven through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run deploy/browser/ensure-chromium.sh "
                    "(Debian packages chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", "--disable-sync",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    # A phone: the viewport meta must make the page readable at this width.
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0}})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.command_executor.client_config.timeout = 30  # fail in seconds, not minutes
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def kafka(broker):
    return KafkaSettings(bootstrap_servers=broker.bootstrap)


@pytest.fixture(scope="session")
def codec():
    return AvroCodec(REPO_ROOT / "schemas" / "avro")


@pytest.fixture(scope="session")
def config(config_dir):
    return load_config(config_dir)


@pytest.fixture
def clock(hub):
    """clock(datetime) sets the time the services act on; real time again afterwards."""
    yield lambda moment: set_clock_file(CLOCK_FILE, moment)
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
