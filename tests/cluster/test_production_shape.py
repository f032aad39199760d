"""Nothing accepted is lost, and nothing is delivered twice, while instances and brokers die.

Each scenario sends a burst of incidents over both ingests, disturbs the hub mid-burst, and
then checks every accepted incident against `referral-hub route`'s referrals (by referral
id): none missing, none unexpected, each delivered, none twice to a webhook recipient.
Except after a SIGKILL: a notify killed between a recipient's 2xx and recording it POSTs
that referral again when its partition is taken over (at-least-once; README, Channels), so
there a repeat is allowed, but only as the same record under the same Idempotency-Key,
which the recipient drops.
RH_CLUSTER_INCIDENTS sets the size of the first burst (default 3000); the others are a
third of it.
"""
import os
import time
import uuid

from referral_hub.commands.stack import SERVICES
from referral_hub.adapters.topics import CONTACTS, REFERRALS
from tests.cluster.burst import Burst, expected_referrals, incidents, outcome
from tests.cluster.conftest import RESULTS, WEBHOOK_RECIPIENTS

INCIDENTS = int(os.environ.get("RH_CLUSTER_INCIDENTS", "3000"))


def run_burst(name: str, hub, config, topic, receiver, count: int, disturb,
              repeats_allowed: bool = False) -> None:
    tag = f"{name.upper()}{uuid.uuid4().hex[:6].upper()}"
    victims = incidents(tag, count, seed=sum(name.encode()))
    expected = expected_referrals(victims, config)
    referrals, contacts = topic(REFERRALS, "referral"), topic(CONTACTS, "contact-event")
    started = time.monotonic()
    burst = Burst([services.urls()["ingest"] for services in hub.values()], tag, victims).start()
    disturb(burst)
    burst.finish()
    result = outcome(burst, expected, referrals, contacts, receiver, WEBHOOK_RECIPIENTS)
    RESULTS.append(result.line(name, burst, time.monotonic() - started))
    assert burst.accepted == count
    assert not result.missing, f"{len(result.missing)} referrals missing, e.g. {sorted(result.missing)[:3]}"
    assert not result.unexpected, f"{len(result.unexpected)} referrals route does not make"
    assert not result.undelivered, f"{len(result.undelivered)} undelivered, e.g. {sorted(result.undelivered)[:3]}"
    assert not result.conflicting, f"{len(result.conflicting)} POSTed again with another record"
    assert repeats_allowed or not result.duplicated, \
        f"{len(result.duplicated)} delivered twice to a webhook recipient"


def test_router_and_notify_instances_killed_mid_burst(all_running, config, topic, receiver):
    hub = all_running

    def kill_and_restart(burst: Burst) -> None:
        burst.wait_until_accepted(INCIDENTS // 3)
        hub["B"].kill_one("router")
        hub["A"].kill_one("notify")
        time.sleep(5)  # the survivors take over their partitions meanwhile
        hub["B"].start_one("router")
        hub["A"].start_one("notify")
        for services in hub.values():
            services.wait_ready(180)

    run_burst("kill", hub, config, topic, receiver, INCIDENTS, kill_and_restart, repeats_allowed=True)


def test_a_broker_killed_mid_burst(all_running, cluster, config, topic, receiver):
    def kill_and_restart(burst: Burst) -> None:
        burst.wait_until_accepted(INCIDENTS // 9)
        cluster.kill_node(2)
        time.sleep(10)  # writes go on with two of three replicas (min.insync.replicas 2)
        cluster.start_node(2)

    run_burst("broker", all_running, config, topic, receiver, INCIDENTS // 3, kill_and_restart)


def test_rolling_restart_of_every_service(all_running, config, topic, receiver):
    hub = all_running

    def roll(burst: Burst) -> None:
        burst.wait_until_accepted(INCIDENTS // 30)
        for name in SERVICES:
            for services in hub.values():  # one instance at a time, as a Deployment rolls
                services.stop_one(name)
                services.start_one(name)
                services.wait_ready(180)

    run_burst("rolling", hub, config, topic, receiver, INCIDENTS // 3, roll)
