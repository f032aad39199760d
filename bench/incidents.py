"""Synthetic incidents for the benchmarks: the demo's samples (samples/incidents.jsonl) with
ids of their own, at the times a benchmark needs. A victim in ten has an earlier incident;
each victim has one perpetrator, so the streaming router's two stages see each person's
incidents in the same order as `referral-hub route` does, whatever the partitions."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

from referral_hub.config import HubConfig
from referral_hub.commands.demo import DEMO_API_KEYS, sample_lines
from referral_hub.core.validation import Refused, parse_incident

TEMPLATES = [json.loads(line) for line in sample_lines()]


def incident(n: int, victim: int, reported_at: datetime, tag: str = "BENCH") -> dict:
    """The nth incident: the demo sample n mod 6 for victim number `victim`."""
    template = TEMPLATES[n % len(TEMPLATES)]
    changes = {"incident_id": f"{tag}-{n}", "reported_at": reported_at.isoformat(), "occurred_at": None,
               "victim": template["victim"] | {"person_id": f"{tag}-V{victim}"},
               "children": [child | {"person_id": f"{tag}-C{victim}-{i}"}
                            for i, child in enumerate(template.get("children") or [])]}
    if template.get("perpetrator"):
        changes["perpetrator"] = template["perpetrator"] | {"person_id": f"{tag}-P{victim}"}
    return template | changes


def valid_lines(count: int, reported_at, config: HubConfig, tag: str = "BENCH") -> Iterator[str]:
    """`count` incidents the rules accept (a sample's child may be 18 at some dates: skipped);
    `reported_at(n)` is the nth incident's report time."""
    made, n = 0, 0
    repeat_every = 10  # incident n + count * 9/10 is its victim's second
    while made < count:
        victim = n % max(count * (repeat_every - 1) // repeat_every, 1)
        line = json.dumps(incident(n, victim, reported_at(n), tag))
        n += 1
        try:
            parse_incident(line, config)
        except Refused:
            continue
        made += 1
        yield line


def over_the_past(days: float, count: int, end: datetime):
    """Report times spread evenly over `days` up to `end` (a replay of past years)."""
    return lambda n: end - timedelta(days=days) + timedelta(days=days * n / count)


def api_key(line: str) -> str:
    return DEMO_API_KEYS[json.loads(line)["force"]]
