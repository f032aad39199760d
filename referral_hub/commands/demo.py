"""`make demo`: post the shipped synthetic incidents to a running hub and show what happened.

What it expects is worked out by the same rules offline, so the demo fails (exit 1) if the
streaming hub does not deliver every referral the rules call for.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from referral_hub.services.notify.sample_receiver import SampleReceiver

from referral_hub.adapters.avro import AvroCodec, codec_for
from referral_hub.adapters.clock import set_clock_file
from referral_hub.config import HubConfig, load_config
from referral_hub.adapters.kafka import replay_consumer
from referral_hub.commands.route import routed_lines
from referral_hub.core.incident import UK
from referral_hub.core.rules import Decision
from referral_hub.settings import EXAMPLE_CONFIG_DIR, REPO_ROOT, HubSettings, KafkaSettings
from referral_hub.commands.stack import LocalBroker, Services, port_in_use, running_hub
from referral_hub.adapters.topics import CONTACTS, OVERDUE
from referral_hub.core.validation import Refused

SAMPLES = REPO_ROOT / "samples" / "incidents.jsonl"
DEMO_API_KEYS = {"merseyside": "demo-merseyside-key-not-for-production",
                 "cheshire": "demo-cheshire-key-not-for-production"}
WAIT_SECONDS = 120
DEMO_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # the demo services' clock
DEMO_WEBHOOK_PORT = 8090
DEMO_WEBHOOK_SECRET_VARIABLE = "RH_DEMO_WEBHOOK_SECRET"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret-not-for-production"
# Recipients report back, at plausible times for the sample incidents: the MARAC makes safe
# contact six hours after the report, each school acknowledges before school starts.
REPORTS = {"MARAC": ("safe_contact_made", lambda d: d.reported_at + timedelta(hours=6)),
           "ENCOMPASS": ("acknowledged", lambda d: d.due_at - timedelta(minutes=20))}


def set_recipient(area_file: Path, role: str, settings: str) -> None:
    """Add `settings` (TOML keys) to the area's recipient for `role`, e.g. its channel: how
    the demo and the tests try channels on a copy of the shipped configuration."""
    lines = area_file.read_text().splitlines()
    [index] = [n for n, line in enumerate(lines)
               if line.startswith(f"{role} = {{ id = ")]  # the recipient, not the deadline
    lines[index] = lines[index].rstrip().removesuffix("}").rstrip() + f", {settings} }}"
    area_file.write_text("\n".join(lines) + "\n")


def webhook_settings(url: str, secret_variable: str, timeout_seconds: float = 10) -> str:
    return (f'channel = "webhook", webhook = {{ url = "{url}", secret_env = ["{secret_variable}"], '
            f'timeout_seconds = {timeout_seconds} }}')


def demo_configuration(target: Path, receiver_url: str) -> Path:
    """The shipped configuration, except that St Helens IDVA takes referrals by webhook at
    `receiver_url` (the demo's sample case system), signed with DEMO_WEBHOOK_SECRET."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(EXAMPLE_CONFIG_DIR, target)
    set_recipient(target / "areas" / "st-helens.toml", "IDVA",
                  webhook_settings(f"{receiver_url}/st-helens-idva", DEMO_WEBHOOK_SECRET_VARIABLE))
    return target


def demo_recipient_token(config: HubConfig, recipient: str, area: str) -> str:
    """The demo token of whoever reports on a referral: its recipient, or for a school the
    area's Encompass coordinator (schools acknowledge through their email's link)."""
    if config.agency(recipient) is None:
        recipient = config.areas[area].recipients["ENCOMPASS_FALLBACK"].id
    return f"demo-token-{recipient}"


def expected_referrals(lines: list[str], config: HubConfig) -> dict[str, Decision]:
    """referral_id -> decision, for every line the rules accept, in order."""
    return {d.referral_id: d for _, result in routed_lines(lines, config)
            if not isinstance(result, Refused) for d in result.actions if d.action == "refer"}


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
            for problem in body["data_problems"]:  # routed on what is valid (second edition)
                print(f"      data problem: {problem['path']}: {problem['problem']}")
        else:
            problems = "; ".join(f"{p['path']}: {p['problem']}" for p in body["detail"])
            print(f"  {answer.status_code} refused   {problems}")
    return posted


def follow(kafka: KafkaSettings, codec: AvroCodec, topic: str, schema: str, wanted: set[str],
           counts: Callable[[dict], bool]) -> dict[str, float]:
    """Follow a topic until each wanted referral has a record that counts; when each was seen."""
    seen: dict[str, float] = {}
    consumer = replay_consumer(kafka, topic)
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while wanted - seen.keys() and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                record = codec.decode(schema, message.value())
                if counts(record):
                    seen.setdefault(record["referral_id"], time.monotonic())
    finally:
        consumer.close()
    return seen


class DemoClock:
    """The demo services' time (RH_CLOCK_FILE). It only moves forward, as time does."""

    def __init__(self, file: Path, start: datetime):
        self.file, self.now = file, start
        set_clock_file(file, start)

    def advance_to(self, moment: datetime) -> None:
        if moment > self.now:
            self.now = moment
            set_clock_file(self.file, moment)


def sample_lines() -> list[str]:
    return [line for line in SAMPLES.read_text().splitlines() if line.strip()]


def demo_start(lines: list[str]) -> datetime:
    """The services' time when the samples are posted: the last sample's report."""
    return max(datetime.fromisoformat(json.loads(line)["reported_at"]) for line in lines)


def contact_reports(referrals: dict[str, Decision]) -> list[tuple[datetime, str, str]]:
    """(when, report type, referral id) of each report back (REPORTS), earliest first."""
    return sorted((when(d), kind, referral_id) for referral_id, d in referrals.items()
                  if d.pathway in REPORTS for kind, when in [REPORTS[d.pathway]])


def report_contacts(client: httpx.Client, referrals: dict[str, Decision], config: HubConfig,
                    clock: DemoClock, router_url: str) -> int:
    """Recipients report back in the order of their reports' times, the clock following.

    Each report is recorded by the router before the clock moves on, and each is made
    before its referral's deadline, so no contacted referral is ever past due without
    its contact: which referrals end up overdue follows from the clock and the reports
    alone, never from which of the router's events comes first. How many were made."""
    reports = contact_reports(referrals)
    for made, (at, kind, referral_id) in enumerate(reports, start=1):
        clock.advance_to(at)
        decision = referrals[referral_id]
        token = demo_recipient_token(config, decision.recipient, decision.area)
        client.post(f"/v1/referrals/{referral_id}/events", json={"type": kind, "at": at.isoformat()},
                    headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        wait_for_contact_times(router_url, made)
    return len(reports)


def expected_overdue(referrals: dict[str, Decision], now: datetime) -> set[str]:
    """The referrals past their deadline at `now` with no contact reported by then."""
    contacted_at = {referral_id: at for at, _, referral_id in contact_reports(referrals)}
    return {referral_id for referral_id, d in referrals.items()
            if d.due_at < now and contacted_at.get(referral_id, now) >= d.due_at}


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


# Reason codes whose words need more than their underscores replaced.
REASON_WORDS = {"victim_16_17": "victim aged 16 or 17", "victim_under_16": "victim under 16",
                "perpetrator_under_18": "perpetrator under 18",
                "setting_not_in_directory": "school not in the directory"}


def uk_short(moment: datetime) -> str:
    """'Mon 23 Nov 09:00', UK local time (GMT or BST), as a coordinator reads a deadline."""
    local = moment.astimezone(UK)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def main_reason(decision: Decision) -> str:
    """The first of the rules' reasons, the one that made the referral."""
    code = decision.reasons[0]
    return REASON_WORDS.get(code, code.replace("_", " "))


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_table(expected: dict[str, Decision], posted: dict[str, float],
                delivered: dict[str, float], config: HubConfig) -> None:
    rows = []
    for referral_id, d in expected.items():
        took = delivered.get(referral_id)
        agency = config.agency(d.recipient)
        rows.append((d.incident_id, d.pathway, config.recipient_name(d.recipient), main_reason(d),
                     uk_short(d.due_at), agency.channel if agency else "kafka",
                     f"{took - posted[d.incident_id]:5.2f} s" if took else "NOT DELIVERED"))
    print()
    print_rows(("incident", "pathway", "recipient", "main reason", "contact due (UK)", "channel",
                "delivered after"), rows)
    counts: dict[str, int] = {}
    for d in expected.values():
        counts[d.pathway] = counts.get(d.pathway, 0) + 1
    print("\n  referrals by pathway: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def print_overdue(expected: dict[str, Decision], uncontacted: set[str], on_topic: set[str],
                  config: HubConfig, now: datetime) -> None:
    """The referrals past their deadline with no contact, as the escalation contacts see them."""
    print(f"\n  At the demo's clock, {uk_short(now)} UK time, {len(uncontacted)} referrals are past "
          "their deadline with no contact reported; each goes on overdue.v1 and its area's "
          "escalation contact is told:\n")
    late = sorted((expected[referral_id] for referral_id in uncontacted),
                  key=lambda d: (d.due_at, d.incident_id, d.pathway))
    rows = []
    for d in late:
        hours_late = int((now - d.due_at).total_seconds() // 3600)
        rows.append((d.incident_id, d.pathway, config.recipient_name(d.recipient), uk_short(d.due_at),
                     f"{hours_late} h", config.areas[d.area].recipients["ESCALATION"].name,
                     "" if d.referral_id in on_topic else "NOT ON overdue.v1"))
    print_rows(("incident", "pathway", "recipient", "was due (UK)", "late by", "told", ""), rows)
    if unexpected := on_topic - uncontacted:
        print(f"\n  WRONG: on overdue.v1 though contacted in time: "
              + ", ".join(f"{expected[r].incident_id} {expected[r].pathway}" for r in sorted(unexpected)))


def run_demo(services: Services, broker: LocalBroker, config_dir: Path,
             receiver: SampleReceiver, clock: DemoClock) -> int:
    settings = HubSettings(kafka=KafkaSettings(bootstrap_servers=broker.bootstrap), config_dir=config_dir)
    config = load_config(settings.config_dir)
    codec = codec_for(settings)
    lines = sample_lines()
    expected = expected_referrals(lines, config)
    print(f"\nPosting {len(lines)} synthetic incidents to {services.urls()['ingest']}:")
    with httpx.Client(base_url=services.urls()["ingest"], timeout=10) as client:
        posted = post_samples(client, lines)
        delivered = follow(settings.kafka, codec, CONTACTS, "contact-event", set(expected),
                           lambda event: event["type"] == "delivered")
        print_table(expected, posted, delivered, config)
        if len(delivered) < len(expected):
            print(f"\n  {len(expected) - len(delivered)} referral(s) not delivered "
                  f"within {WAIT_SECONDS}s: see .run/demo-logs/")
            return 1
        by_webhook = set(receiver.accepted_ids("st-helens-idva")) & expected.keys()
        print(f"\n  St Helens IDVA's case system (a sample webhook receiver on port {receiver.port}) "
              f"accepted {len(by_webhook)} referral(s); every signature verified: "
              f"{'yes' if receiver.bad_signatures == 0 else 'NO'}")
        reported = report_contacts(client, expected, config, clock, services.urls()["router"])
    timed = contacts_timed(services.urls()["router"])
    clock.advance_to(DEMO_NOW)
    print(f"\n  All {len(expected)} referrals delivered. {reported} contacts reported back "
          "(MARAC safe contact, schools' acknowledgements); in the time_to_contact histogram: "
          + ", ".join(f"{k} {v}" for k, v in sorted(timed.items())))
    uncontacted = expected_overdue(expected, DEMO_NOW)
    overdue = follow(settings.kafka, codec, OVERDUE, "overdue", uncontacted, lambda record: True)
    print_overdue(expected, uncontacted, set(overdue), config, DEMO_NOW)
    webhook_ok = by_webhook == {rid for rid, d in expected.items() if d.recipient == "st-helens-idva"}
    failures = [problem for problem, failed in (
        ("a contact report missing from time_to_contact", sum(timed.values()) != reported),
        ("overdue.v1 differs from the referrals past their deadline", overdue.keys() != uncontacted),
        ("the webhook receiver's referrals differ from St Helens IDVA's", not webhook_ok)) if failed]
    print("\nDemo " + (f"FAILED: {'; '.join(failures)}" if failures else "passed."))
    return 1 if failures else 0


def demo() -> int:
    """`referral-hub demo`: an empty local broker, the services on the demo's clock and
    configuration, the sample webhook receiver, then run_demo; everything stopped after."""
    run_dir = REPO_ROOT / ".run"
    run_dir.mkdir(exist_ok=True)  # a fresh clone has none
    log_dir = run_dir / "demo-logs"
    broker = LocalBroker(run_dir=run_dir / "demo-kafka", log_file=log_dir / "broker.log")
    ports = (*Services.ports, DEMO_WEBHOOK_PORT, broker.port, broker.controller_port)
    if taken := [port for port in ports if port_in_use(port)]:
        print(f"demo: port(s) {taken} already in use on 127.0.0.1: is another hub or demo running?",
              file=sys.stderr)
        return 1
    # The demo's services live at fixed times, whatever the machine's date: run_demo moves
    # this clock from the last sample's report to DEMO_NOW.
    clock = DemoClock(run_dir / "demo-clock", demo_start(sample_lines()))
    config_dir = demo_configuration(run_dir / "demo-config", f"http://127.0.0.1:{DEMO_WEBHOOK_PORT}")
    print(f"Starting a local Kafka broker (the first time, Maven fetches its jars) and the hub's "
          f"three services; their logs: {os.path.relpath(log_dir)}/", flush=True)
    try:
        broker.reset()  # each demo starts from an empty broker, so its table is its own
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    receiver = SampleReceiver(DEMO_WEBHOOK_PORT, DEMO_WEBHOOK_SECRET.encode(), answer_for_seconds=0)
    receiver.start()
    try:
        with running_hub(broker, log_dir,
                         {"RH_CLOCK_FILE": str(clock.file), "RH_OVERDUE_CHECK_SECONDS": "1",
                          "RH_CONFIG_DIR": str(config_dir),
                          DEMO_WEBHOOK_SECRET_VARIABLE: DEMO_WEBHOOK_SECRET}) as services:
            return run_demo(services, broker, config_dir, receiver, clock)
    except (RuntimeError, TimeoutError) as exc:  # the broker or a service did not start
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        receiver.stop()
