"""`referral-hub route`: the router's rules and state, in process, on JSON Lines.

Each line is one notification, routed in the order given with the histories the earlier
lines built, exactly as the streaming router would. Refused lines are reported as
`line N: <field path>: <problem>` on stderr and make the exit status 2.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, TextIO

from referral_hub.config import HubConfig
from referral_hub.core.incident import Incident
from referral_hub.core.history import History, PairHistory, PerpetratorHistory, VictimHistory
from referral_hub.core.rules import Decision, decide, pair_key, perpetrator_key
from referral_hub.core.validation import Refused, parse_incident


@dataclass
class OfflineRouter:
    """The router's state kept in memory: each victim's, each perpetrator's and each pair's
    history."""
    config: HubConfig
    victims: dict[str, VictimHistory] = field(default_factory=dict)
    perpetrators: dict[str, PerpetratorHistory] = field(default_factory=dict)
    pairs: dict[str, PairHistory] = field(default_factory=dict)

    def route(self, incident: Incident) -> list[Decision]:
        perpetrator, pair = perpetrator_key(incident), pair_key(incident)
        victim_history = self.victims.get(incident.key, VictimHistory())
        perpetrator_history = self.perpetrators.get(perpetrator, PerpetratorHistory())
        pair_history = self.pairs.get(pair, PairHistory())
        decisions = decide(incident, History(victim_history, perpetrator_history, pair_history),
                           self.config)
        self.victims[incident.key] = victim_history.after(incident, decisions, self.config)
        if perpetrator:
            self.perpetrators[perpetrator] = perpetrator_history.after(incident, decisions, self.config)
            self.pairs[pair] = pair_history.after(incident, decisions, self.config)
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


def _counts(lines: list[str], config: HubConfig) -> tuple[dict[tuple[str, str], int], int]:
    """Referrals per (area, pathway), and how many lines the configuration refused."""
    counts: dict[tuple[str, str], int] = {}
    refused = 0
    for _, result in routed_lines(lines, config):
        if isinstance(result, Refused):
            refused += 1
            continue
        for decision in result:
            area = config.areas[decision.area].name
            counts[(area, decision.pathway)] = counts.get((area, decision.pathway), 0) + 1
    return counts, refused


def compare_lines(lines: TextIO, out: TextIO, old: HubConfig, new: HubConfig) -> int:
    """The change in referrals per area and pathway between two configurations."""
    incidents = list(lines)
    (before, refused_before), (after, refused_after) = _counts(incidents, old), _counts(incidents, new)
    out.write(f"{'area':<12} {'pathway':<19} {'old':>6} {'new':>6} {'change':>7}\n")
    for area, pathway in sorted(before.keys() | after.keys()):
        was, now = before.get((area, pathway), 0), after.get((area, pathway), 0)
        out.write(f"{area:<12} {pathway:<19} {was:>6} {now:>6} {now - was:>+7}\n")
    out.write(f"{'refused lines':<32} {refused_before:>6} {refused_after:>6} "
              f"{refused_after - refused_before:>+7}\n")
    return 0
