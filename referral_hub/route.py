"""`referral-hub route`: the router's rules and state, in process, on JSON Lines.

Each line is one notification, routed in the order given with the histories the earlier
lines built, exactly as the streaming router would. Refused lines are reported as
`line N: <field path>: <problem>` on stderr and make the exit status 2.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, TextIO

from .config import HubConfig
from .incident import Incident
from .rules import (Decision, History, PerpetratorHistory, VictimHistory, decide,
                    perpetrator_key)
from .validation import Refused, parse_incident


@dataclass
class OfflineRouter:
    """The router's state kept in memory: each victim's and each perpetrator's history."""
    config: HubConfig
    victims: dict[str, VictimHistory] = field(default_factory=dict)
    perpetrators: dict[str, PerpetratorHistory] = field(default_factory=dict)

    def route(self, incident: Incident) -> list[Decision]:
        perpetrator = perpetrator_key(incident)
        victim_history = self.victims.get(incident.key, VictimHistory())
        perpetrator_history = self.perpetrators.get(perpetrator, PerpetratorHistory())
        decisions = decide(incident, History(victim_history, perpetrator_history), self.config)
        keep = self.config.areas[incident.local_authority].windows.longest_days
        self.victims[incident.key] = victim_history.after(incident, decisions, keep)
        if perpetrator:
            self.perpetrators[perpetrator] = perpetrator_history.after(incident, decisions, keep)
        return decisions


def routed_lines(lines: Iterable[str], config: HubConfig):
    """(line number, decisions or the refusal) for each non-blank line, in order."""
    router = OfflineRouter(config)
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                yield number, router.route(parse_incident(line, config))
            except Refused as refused:
                yield number, refused


def route_lines(lines: TextIO, out: TextIO, err: TextIO, config: HubConfig,
                explain: bool = False) -> int:
    status = 0
    for number, result in routed_lines(lines, config):
        if isinstance(result, Refused):
            for problem in result.problems:
                print(f"line {number}: {problem}", file=err)
            status = 2
            continue
        for decision in result:
            out.write(json.dumps(decision.as_route_output(explain)) + "\n")
    return status
