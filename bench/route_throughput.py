"""How fast the pathway rules route a year of a partnership's incidents, in process.

St Helens alone had 3,745 domestic abuse reports in 2023/24; a board's `route --compare`
runs a year through two configurations. Run: .venv/bin/python bench/route_throughput.py [N]
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta

from referral_hub.config import load_config
from referral_hub.commands.route import OfflineRouter
from referral_hub.settings import REPO_ROOT
from referral_hub.core.validation import parse_incident

SAMPLE = json.loads((REPO_ROOT / "samples" / "incident.json").read_text())


def year_of_incidents(count: int) -> list[str]:
    """Synthetic incidents spread over a year; a victim in ten has repeat incidents."""
    start = datetime.fromisoformat("2025-11-01T10:00:00+00:00")
    lines = []
    for n in range(count):
        reported = start + timedelta(minutes=int(525_600 * n / count))
        victim = n % (count * 9 // 10 or 1)
        lines.append(json.dumps(SAMPLE | {
            "incident_id": f"BENCH-{n}", "reported_at": reported.isoformat(), "occurred_at": None,
            "victim": SAMPLE["victim"] | {"person_id": f"BENCH-V{victim}"},
            "perpetrator": SAMPLE["perpetrator"] | {"person_id": f"BENCH-P{n % 500}"},
            "risk": {"tool": "DASH", "dash_yes_count": n % 28, "officer_grade": "standard"}}))
    return lines


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    config = load_config(REPO_ROOT / "config")
    lines = year_of_incidents(count)
    started = time.perf_counter()
    incidents = [parse_incident(line, config) for line in lines]
    parsed = time.perf_counter()
    router = OfflineRouter(config)
    decisions = sum(len(router.route(incident)) for incident in incidents)
    routed = time.perf_counter()
    print(f"{count} incidents: validated in {parsed - started:.2f} s "
          f"({count / (parsed - started):.0f}/s), routed in {routed - parsed:.2f} s "
          f"({count / (routed - parsed):.0f}/s), {decisions} referrals")


if __name__ == "__main__":
    main()
