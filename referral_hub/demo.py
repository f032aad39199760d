"""`make demo`: post the shipped synthetic incidents to a running hub and show what happened.

What it expects is worked out by the same rules offline, so the demo fails (exit 1) if the
streaming hub does not deliver every referral the rules call for.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .avro import AvroCodec
from .config import HubConfig, load_config
from .kafka import replay_consumer
from .route import routed_lines
from .rules import Decision
from .settings import REPO_ROOT, HubSettings, KafkaSettings
from .stack import LocalBroker, Services
from .topics import CONTACTS
from .validation import Refused

SAMPLES = REPO_ROOT / "samples" / "incidents.jsonl"
DEMO_API_KEYS = {"merseyside": "demo-merseyside-key-not-for-production",
                 "cheshire": "demo-cheshire-key-not-for-production"}
WAIT_SECONDS = 120


def expected_referrals(lines: list[str], config: HubConfig) -> dict[str, Decision]:
    """referral_id -> decision, for every line the rules accept, in order."""
    return {d.referral_id: d for _, result in routed_lines(lines, config)
            if not isinstance(result, Refused) for d in result}


def post_samples(client: httpx.Client, lines: list[str]) -> dict[str, float]:
    """POST each sample; return when each accepted incident was posted (monotonic)."""
    posted = {}
    for line in lines:
        force = json.loads(line).get("force", "merseyside")
        started = time.monotonic()
        answer = client.post("/v1/incidents", content=line, headers={
            "Authorization": f"Bearer {DEMO_API_KEYS[force]}", "Content-Type": "application/json"})
        body = answer.json()
        if answer.status_code == 202:
            posted[body["incident_id"]] = started
            print(f"  202 accepted  {body['incident_id']}")
        else:
            problems = "; ".join(f"{p['path']}: {p['problem']}" for p in body["detail"])
            print(f"  {answer.status_code} refused   {problems}")
    return posted


def wait_for_deliveries(kafka: KafkaSettings, codec: AvroCodec, wanted: set[str]) -> dict[str, float]:
    """Follow contacts.v1 until every wanted referral is delivered; when each was seen."""
    seen: dict[str, float] = {}
    consumer = replay_consumer(kafka, CONTACTS)
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while wanted - seen.keys() and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            event = codec.decode("contact-event", message.value())
            if event["type"] == "delivered":
                seen.setdefault(event["referral_id"], time.monotonic())
    finally:
        consumer.close()
    return seen


def report_contacts(client: httpx.Client, referrals: dict[str, Decision]) -> int:
    """Recipients report back, at plausible times for the sample incidents: the MARAC makes
    safe contact six hours after the report, each school acknowledges before school starts."""
    reports = {"MARAC": ("safe_contact_made", lambda d: d.reported_at + timedelta(hours=6)),
               "ENCOMPASS": ("acknowledged", lambda d: d.due_at - timedelta(minutes=20))}
    reported = 0
    for referral_id, decision in referrals.items():
        if decision.pathway in reports:
            kind, when = reports[decision.pathway]
            client.post(f"/v1/referrals/{referral_id}/events",
                        json={"type": kind, "at": when(decision).isoformat()}).raise_for_status()
            reported += 1
    return reported


def contacts_timed(router_url: str) -> dict[str, int]:
    """How many first contacts the router's time_to_contact histogram holds, by pathway."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(httpx.get(f"{router_url}/metrics").text):
        for sample in family.samples:
            if sample.name == "referral_hub_time_to_contact_seconds_count":
                pathway = sample.labels["pathway"]
                counts[pathway] = counts.get(pathway, 0) + int(sample.value)
    return counts


def wait_for_contact_times(router_url: str, reported: int) -> dict[str, int]:
    deadline = time.monotonic() + WAIT_SECONDS
    while sum((counts := contacts_timed(router_url)).values()) < reported \
            and time.monotonic() < deadline:
        time.sleep(0.3)
    return counts


def print_table(expected: dict, posted: dict[str, float], delivered: dict[str, float]) -> None:
    print(f"\n  {'incident':<17} {'pathway':<19} {'recipient':<26} {'due (UTC)':<21} delivered after")
    for referral_id, d in expected.items():
        took = delivered.get(referral_id)
        shown = f"{took - posted[d.incident_id]:6.2f} s" if took else "NOT DELIVERED"
        print(f"  {d.incident_id:<17} {d.pathway:<19} {d.recipient:<26} "
              f"{d.as_route_output()['due_at']:<21} {shown}")
    counts: dict[str, int] = {}
    for d in expected.values():
        counts[d.pathway] = counts.get(d.pathway, 0) + 1
    print("\n  referrals by pathway: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def run_demo(services: Services, broker: LocalBroker) -> int:
    settings = HubSettings(kafka=KafkaSettings(bootstrap_servers=broker.bootstrap))
    config = load_config(settings.config_dir)
    codec = AvroCodec(settings.schema_dir)
    lines = [line for line in SAMPLES.read_text().splitlines() if line.strip()]
    expected = expected_referrals(lines, config)
    print(f"\nPosting {len(lines)} synthetic incidents to {services.urls()['ingest']}:")
    with httpx.Client(base_url=services.urls()["ingest"], timeout=10) as client:
        posted = post_samples(client, lines)
        delivered = wait_for_deliveries(settings.kafka, codec, set(expected))
        print_table(expected, posted, delivered)
        if len(delivered) < len(expected):
            print(f"\n  {len(expected) - len(delivered)} referral(s) not delivered "
                  f"within {WAIT_SECONDS}s: see .run/demo-logs/")
            return 1
        reported = report_contacts(client, expected)
    timed = wait_for_contact_times(services.urls()["router"], reported)
    print(f"\n  All {len(expected)} referrals delivered. {reported} contacts reported back "
          "(MARAC safe contact, schools' acknowledgements); in the time_to_contact histogram: "
          + ", ".join(f"{k} {v}" for k, v in sorted(timed.items())))
    return 0 if sum(timed.values()) == reported else 1
