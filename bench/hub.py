"""`make bench`: the streaming path on the project's own local broker (never part of `make test`).

1. Steady load: after a warm-up of 15 s at 50/s, valid synthetic incidents POSTed to ingest
   at 50/s, then at higher rates until one does not hold; a surge of 200/s. Per referral,
   the time from the POST's answer to its decision on referrals.v1 and to its record on the
   recipient's topic (when the bench's consumer received it), whether a backlog grew, and
   ingest's own answer times.
2. Replay: N validated incidents on incidents.v1 before the router starts; how fast it
   decides them all, against a bare confluent-kafka loop (bench/bare_loop.py) over the same
   topic; the router's peak memory; then the same at 3 x N.
3. Checked while measuring: every decision on referrals.v1 is the one `referral-hub route`
   makes for the same input, none missing, none twice; every recipient record once.

Run: .venv/bin/python -m bench.hub [--quick] [--replay N] [--partitions P] [--routers R]
Its broker, services and state live in .run/bench/; ports from RH_BENCH_PORT_BASE (21100):
services base+80.. (ingest metrics +90), broker base+92 and base+93. Prints one table, writes .run/bench/results.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import HubConfig, load_config
from referral_hub.adapters.kafka import ensure_topics, make_producer
from referral_hub.commands.route import routed_lines
from referral_hub.settings import REPO_ROOT, KafkaSettings
from referral_hub.commands.stack import LocalBroker, Services
from referral_hub.adapters.topics import CORE_TOPICS, INCIDENTS, REFERRALS
from referral_hub.core.validation import Refused, parse_incident

from . import bare_loop
from .incidents import api_key, over_the_past, valid_lines

RUN_DIR = REPO_ROOT / ".run" / "bench"
PORT_BASE = int(os.environ.get("RH_BENCH_PORT_BASE", "21100"))
INCIDENTS_PER_YEAR = 100_000  # replayed incidents are this far apart in time
REPLAY_END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOLDS = 0.5  # a rate holds while POST-to-recipient p99 stays under this many seconds
DRAIN_TIMEOUT = 180.0
IN_FLIGHT = 50  # POSTs without an answer yet, at most
WARM_UP_SECONDS = 15


# --- reading what the hub wrote ---------------------------------------------------------

class Recorder(threading.Thread):
    """Every record of the topics from their start, with the time this process received it."""

    def __init__(self, kafka: KafkaSettings, topics: list[str]):
        super().__init__(daemon=True)
        self.records: list[tuple[str, bytes, float]] = []
        self._closing = threading.Event()
        self._consumer = Consumer(kafka.confluent() | {
            "group.id": "bench-recorder", "enable.auto.commit": False, "fetch.wait.max.ms": 5})
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for topic in topics
                               for p in self._consumer.list_topics(topic, timeout=10).topics[topic].partitions])

    def run(self) -> None:
        while not self._closing.is_set():
            messages = self._consumer.consume(1000, 0.05)
            received = time.time()
            self.records += [(m.topic(), m.value(), received) for m in messages if not m.error()]
        self._consumer.close()

    def count(self, topic: str) -> int:
        return sum(1 for t, _, _ in self.records if t == topic)

    def close(self) -> None:
        self._closing.set()
        self.join()


@dataclass
class Expected:
    """What `referral-hub route` decides for the lines: referral id -> (encoded record,
    incident id), in the order decided."""
    referrals: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, lines: list[str], config: HubConfig, codec: AvroCodec) -> "Expected":
        expected = cls()
        for _, result in routed_lines(lines, config):
            assert not isinstance(result, Refused), result
            for decision in result.actions:
                expected.referrals[decision.referral_id] = (
                    codec.encode("referral", decision.as_record()), decision.incident_id)
        return expected


def check(expected: Expected, records: list[tuple[str, bytes, float]], codec: AvroCodec,
          recipient_topics: set[str]) -> tuple[dict, dict[str, float], dict[str, float]]:
    """Decisions compared with `route` by referral id; when each was first decided and first
    on its recipient's topic."""
    decided, delivered, counts, recipient_counts, different, examples = {}, {}, {}, {}, Counter(), []
    for topic, value, received in records:
        if topic == REFERRALS:
            referral_id = codec.decode("referral", value)["referral_id"]
            if referral_id not in expected.referrals:
                continue  # another phase's
            counts[referral_id] = counts.get(referral_id, 0) + 1
            decided.setdefault(referral_id, received)
            if value != expected.referrals[referral_id][0]:
                wanted = codec.decode("referral", expected.referrals[referral_id][0])
                got = codec.decode("referral", value)
                different.update(k for k in wanted if wanted[k] != got[k])
                different["records"] += 1
                if wanted["reasons"] != got["reasons"] and len(examples) < 3:  # rule names only
                    examples.append({"pathway": got["pathway"], "route": wanted["reasons"], "hub": got["reasons"]})
        elif topic in recipient_topics:
            schema, record = codec.decode_any(value)
            if schema == "overdue" or record["referral_id"] not in expected.referrals:
                continue
            recipient_counts[record["referral_id"]] = recipient_counts.get(record["referral_id"], 0) + 1
            delivered.setdefault(record["referral_id"], received)
    result = {"expected": len(expected.referrals), "missing": len(expected.referrals.keys() - counts.keys()),
              "twice": sum(1 for c in counts.values() if c > 1),
              "different": different.pop("records", 0), "different_fields": dict(different),
              "different_reasons": examples}
    if recipient_topics:
        result |= {"recipient_missing": len(expected.referrals.keys() - recipient_counts.keys()),
                   "recipient_twice": sum(1 for c in recipient_counts.values() if c > 1)}
    return result, decided, delivered


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


# --- 1. load through ingest ---------------------------------------------------------------

async def post_at_rate(url: str, lines: list[str], rate: float) -> tuple[dict[str, float], list[float], float]:
    """POST the lines `rate` a second, at most IN_FLIGHT unanswered; (incident id -> when its
    answer came, each answer's seconds from its sending, the rate achieved). A POST without
    an answer raises. The bound keeps the client's own cost flat (httpx's pool slows with
    every queued request) when ingest falls behind: the achieved rate then shows it."""
    answered, took, room = {}, [], asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(
            max_connections=IN_FLIGHT, keepalive_expiry=1.0)) as client:
        # keepalive_expiry under uvicorn's 5 s: else a connection it closed is reused, and fails
        async def post(line: str) -> None:
            async with room:
                started = time.perf_counter()
                for attempt in range(3):  # ingest closes a connection whose request head is
                    try:                  # late (bounded_head.py): sent again, as a police system would
                        answer = await client.post("/v1/incidents", content=line, headers={
                            "Authorization": f"Bearer {api_key(line)}", "Content-Type": "application/json"})
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                took.append(time.perf_counter() - started)
            answer.raise_for_status()
            answered[answer.json()["incident_id"]] = time.time()

        start, tasks = time.monotonic(), []
        for n, line in enumerate(lines):
            if (wait := start + n / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await room.acquire()  # not past IN_FLIGHT: the rate falls instead
            room.release()
            tasks.append(asyncio.create_task(post(line)))
        await asyncio.gather(*tasks)
        return answered, took, len(lines) / (time.monotonic() - start)


def load(name: str, services: Services, recorder: Recorder, config: HubConfig, codec: AvroCodec,
         rate: float, seconds: float) -> dict:
    lines = list(valid_lines(int(rate * seconds), lambda n: datetime.now(UTC), config, tag=name))
    expected = Expected.of(lines, config, codec)
    before = len(recorder.records)
    answered, took, achieved = asyncio.run(post_at_rate(services.urls()["ingest"], lines, rate))
    last_answer = max(answered.values())
    deadline = time.monotonic() + DRAIN_TIMEOUT  # each referral: a decision and a recipient record
    while len(recorder.records) - before < 2 * len(expected.referrals) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # any record twice
    result, decided, delivered = check(expected, recorder.records[before:], codec,
                                       set(config.recipient_topics()))
    incident_of = {rid: incident_id for rid, (_, incident_id) in expected.referrals.items()}
    to_decision = [decided[r] - answered[incident_of[r]] for r in decided]
    to_recipient = {r: delivered[r] - answered[incident_of[r]] for r in delivered}
    # Backlog: referrals of the last fifth of the posts wait longer than those of the first.
    by_post = sorted(to_recipient, key=lambda r: answered[incident_of[r]])
    fifth = max(len(by_post) // 5, 1)
    first, last = (statistics.median([to_recipient[r] for r in part]) if part else 0.0
                   for part in (by_post[:fifth], by_post[-fifth:]))
    return {"phase": name, "rate": rate, "seconds": seconds, "achieved_rate": round(achieved, 1),
            "incidents": len(lines), "referrals": len(expected.referrals),
            "to_decision": percentiles(to_decision), "to_recipient": percentiles(list(to_recipient.values())),
            "ingest": percentiles(took),
            "drained_after_last_post": (max(delivered.values()) - last_answer) if delivered else None,
            "backlog_grew": last > 2 * first and last > 0.25, "check": result}


def holds(result: dict) -> bool:
    check_ok = not any(v for k, v in result["check"].items() if k not in ("expected", "different_fields", "different_reasons"))
    return (check_ok and not result["backlog_grew"]
            and result["to_recipient"].get("p99", 1e9) < HOLDS
            and result["achieved_rate"] >= 0.95 * result["rate"])


def steady_and_surge(broker: LocalBroker, args, config: HubConfig, codec: AvroCodec) -> list[dict]:
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=args.partitions)
    ensure_topics(kafka, [*CORE_TOPICS, *config.recipient_topics()])
    services = hub_services(broker, args)
    services.start(timeout=120)
    recorder = Recorder(kafka, [REFERRALS, *config.recipient_topics()])
    recorder.start()
    results = []
    try:
        # A hub that has just started is slower for its first seconds (the broker's JVM
        # compiling its hot paths, each service's first calls); the police post to one that
        # has been running. Printed, kept in the JSON, not measured against the targets.
        results.append(load("warm-up", services, recorder, config, codec, 50, WARM_UP_SECONDS))
        print_load(results[-1])
        results.append(load("steady", services, recorder, config, codec, 50, args.steady_seconds))
        print_load(results[-1])
        for rate in args.ramp:
            results.append(load(f"ramp-{rate}", services, recorder, config, codec, rate, args.ramp_seconds))
            print_load(results[-1])
            if not holds(results[-1]):
                break
        results.append(load("surge", services, recorder, config, codec, 200, 10))
        print_load(results[-1])
    finally:
        services.stop()
        recorder.close()
    return results


# --- 2. replay ---------------------------------------------------------------------------

def replay(broker: LocalBroker, args, config: HubConfig, codec: AvroCodec, count: int,
           with_bare_loop: bool) -> dict:
    broker.reset()
    broker.start()
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_partitions=args.partitions)
    ensure_topics(kafka, [*CORE_TOPICS, *config.recipient_topics()])
    days = 365 * count / INCIDENTS_PER_YEAR
    lines = list(valid_lines(count, over_the_past(days, count, REPLAY_END), config))
    expected = Expected.of(lines, config, codec)
    incidents = [parse_incident(line, config) for line in lines]
    write_incidents(kafka, incidents, codec)
    outcome = {"incidents": count, "referrals": len(expected.referrals), "routers": args.routers,
               "partitions": args.partitions} | run_routers(broker, args, kafka, expected, codec,
                                                            clock_at=incidents[0].reported_at)
    outcome["router_rate"] = count / outcome["router_seconds"]
    outcome["router_cpu_ms_per_incident"] = 1000 * outcome.pop("router_cpu_seconds") / count
    if with_bare_loop:
        bare = bare_loop.run(kafka, config, codec, count)
        outcome |= {"bare_seconds": bare["seconds"], "bare_rate": count / bare["seconds"],
                    "ratio": bare["seconds"] / outcome["router_seconds"],
                    "bare_cpu_ms_per_incident": 1000 * bare["cpu_seconds"] / count,
                    "bare_decisions_match": bare["decisions"] == len(expected.referrals)}
    print_replay(outcome)
    return outcome


def write_incidents(kafka: KafkaSettings, incidents: list, codec: AvroCodec) -> None:
    producer = make_producer(kafka)
    for incident in incidents:
        bare_loop.produce(producer, INCIDENTS, incident.key, codec.encode("incident", incident.model_dump()))
    producer.flush(120)


def run_routers(broker: LocalBroker, args, kafka: KafkaSettings, expected: Expected,
                codec: AvroCodec, clock_at: datetime) -> dict:
    """Start the routers on the incidents waiting, and stop them once every decision is on
    referrals.v1: how long from the first decision to the last, their CPU time in between,
    their peak memory, and the check."""
    # The services' clock at the first report: no referral is overdue yet, so the replay
    # measures routing, not a year of overdue notices.
    clock = RUN_DIR / "clock"
    clock.write_text(clock_at.isoformat())
    recorder = Recorder(kafka, [REFERRALS])
    recorder.start()
    routers = [hub_services(broker, args, router_port=PORT_BASE + 81 + n, clock=clock)
               for n in range(args.routers)]
    started = time.time()
    for services in routers:
        services.start_one("router")
    deadline = time.monotonic() + 300 + len(expected.referrals) / 20
    cpu_at_first = None  # from the first decision on, so the start-up is not counted
    while recorder.count(REFERRALS) < len(expected.referrals) and time.monotonic() < deadline:
        time.sleep(0.5)
        if cpu_at_first is None and recorder.records:
            cpu_at_first = sum(cpu_seconds(s.processes["router"].pid) for s in routers)
        if any(s.state("router") != "running" for s in routers):
            raise RuntimeError(f"a router stopped; see {RUN_DIR / 'logs'}")
    peak = max(peak_memory_mb(s.processes["router"].pid) for s in routers)
    cpu = sum(cpu_seconds(s.processes["router"].pid) for s in routers) - (cpu_at_first or 0)
    for services in routers:
        services.stop()
    recorder.close()
    times = [received for _, _, received in recorder.records]
    result, _, _ = check(expected, recorder.records, codec, set())
    return {"router_start_seconds": min(times) - started, "router_seconds": max(times) - min(times),
            "router_cpu_seconds": cpu, "router_peak_mb": peak, "check": result}


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system time of the process so far, all its threads (start-up included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hub_services(broker: LocalBroker, args, router_port: int = PORT_BASE + 81,
                 clock: Path | None = None) -> Services:
    shutil.rmtree(RUN_DIR / "state" / str(router_port), ignore_errors=True)
    settings = {"RH_KAFKA_TOPIC_PARTITIONS": str(args.partitions), "RH_LOG_LEVEL": "warning"}
    if clock:
        settings["RH_CLOCK_FILE"] = str(clock)
    return Services(broker, ports=(PORT_BASE + 80, router_port, PORT_BASE + 82),
                    ingest_metrics_port=PORT_BASE + 90, log_dir=RUN_DIR / "logs", state_dir=RUN_DIR / "state" / str(router_port),
                    settings=settings)


# --- the table ---------------------------------------------------------------------------

def ms(stats: dict, key: str) -> str:
    return f"{stats[key] * 1000:7.0f}" if key in stats else "      -"


def print_load(r: dict) -> None:
    c = r["check"]
    print(f"{r['phase']:<10} {r['rate']:>5}/s x {r['seconds']:>3.0f}s (got {r['achieved_rate']:>5}/s) "
          f"{r['referrals']:>6} referrals | decision p50/p99 {ms(r['to_decision'], 'p50')}{ms(r['to_decision'], 'p99')} ms"
          f" | recipient p50/p95/p99/max {ms(r['to_recipient'], 'p50')}{ms(r['to_recipient'], 'p95')}"
          f"{ms(r['to_recipient'], 'p99')}{ms(r['to_recipient'], 'max')} ms | ingest p50/p99"
          f"{ms(r['ingest'], 'p50')}{ms(r['ingest'], 'p99')} ms | drained "
          f"{r['drained_after_last_post'] or 0:6.1f} s after | backlog {'GREW' if r['backlog_grew'] else 'no'}"
          f" | missing {c['missing']}+{c.get('recipient_missing', 0)} twice {c['twice']}+"
          f"{c.get('recipient_twice', 0)} different {c['different']}", flush=True)


def print_replay(r: dict) -> None:
    c = r["check"]
    bare = (f" | bare loop {r['bare_rate']:7.0f}/s | router/bare {r['ratio']:.0%}"
            if "bare_rate" in r else "")
    cpu = (f" | CPU ms per incident: router {r['router_cpu_ms_per_incident']:.1f}"
           + (f", bare loop {r['bare_cpu_ms_per_incident']:.1f}" if "bare_rate" in r else ""))
    print(f"replay {r['incidents']:>7} incidents, {r['routers']} router(s), {r['partitions']} partitions: "
          f"router {r['router_rate']:7.0f}/s (started in {r['router_start_seconds']:.1f} s){bare}{cpu} | "
          f"router peak {r['router_peak_mb']:.0f} MB | missing {c['missing']} twice {c['twice']} "
          f"different {c['different']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter load phases, 3,000 replayed incidents")
    parser.add_argument("--replay", type=int, help="incidents to replay (default 100,000; 3,000 with --quick)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of every topic (3)")
    parser.add_argument("--routers", type=int, default=1, help="router instances in the replay (1)")
    parser.add_argument("--only", choices=("load", "replay"), help="run one part")
    args = parser.parse_args()
    args.replay = args.replay or (3_000 if args.quick else 100_000)
    args.steady_seconds = 20 if args.quick else 60
    args.ramp, args.ramp_seconds = ([], 0) if args.quick else ([100, 150, 200, 300], 20)
    config, codec = load_config(REPO_ROOT / "config"), AvroCodec(REPO_ROOT / "schemas" / "avro")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RUN_DIR / "logs", ignore_errors=True)
    broker = LocalBroker(port=PORT_BASE + 92, controller_port=PORT_BASE + 93, run_dir=RUN_DIR / "kafka")
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_at_start": os.getloadavg()},
               "started": datetime.now(UTC).isoformat(), "arguments": vars(args)}
    try:
        if args.only != "replay":
            broker.reset()
            broker.start()
            results["load"] = steady_and_surge(broker, args, config, codec)
        if args.only != "load":
            results["replay"] = [replay(broker, args, config, codec, args.replay, with_bare_loop=True),
                                 replay(broker, args, config, codec, 3 * args.replay, with_bare_loop=False)]
            print(f"router peak memory at 3 x N / at N: "
                  f"{results['replay'][1]['router_peak_mb'] / results['replay'][0]['router_peak_mb']:.2f}")
    finally:
        broker.stop()
        (RUN_DIR / "results.json").write_text(json.dumps(results, indent=2, default=str))
        print(f"results: {RUN_DIR / 'results.json'}")


if __name__ == "__main__":
    main()
