"""`referral-hub route`: the router's rules and state, in process, on JSON Lines.

Each line is one notification, routed in the order given with the histories the earlier
lines built, exactly as the streaming router would (the same revisions.py). Refused lines
are reported as `line N: <field path>: <problem>` on stderr and make the exit status 2;
data problems as `line N: data problem: <field path>: <problem>`, which leave it 0.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Iterable, TextIO

from referral_hub.config import HubConfig
from referral_hub.core.incident import DataProblem, Incident
from referral_hub.core.history import PairHistory, PerpetratorHistory, VictimHistory
from referral_hub.core.revisions import (LastVersion, claimed, depart_victim, revise_for_perpetrator,
                                        revise_for_victim)
from referral_hub.core.rules import Decision, counter_allegation, pair_key, perpetrator_key
from referral_hub.core.validation import Refused, parse_incident

STALE = DataProblem(path="version", problem="stale")


@dataclass
class OfflineRouter:
    """The router's state kept in memory: each victim's, each perpetrator's and each pair's
    history, and each incident's last version (whose victim it named)."""
    config: HubConfig
    last_versions: dict[str, LastVersion] = field(default_factory=dict)
    victims: dict[str, VictimHistory] = field(default_factory=dict)
    perpetrators: dict[str, PerpetratorHistory] = field(default_factory=dict)
    pairs: dict[str, PairHistory] = field(default_factory=dict)

    def route(self, incident: Incident) -> list[Decision]:
        """The actions for recipients; a stale version does nothing (and says so)."""
        victim = revise_for_victim(incident, self.victims.get(incident.key, VictimHistory()), self.config)
        if victim.stale:
            return []
        self.victims[incident.key] = victim.history
        actions = self.marked_if_counter_allegation(incident, victim.actions)
        actions += [action for _, action in victim.late_effects]
        self.pair_lets_go(victim.former_pair, incident)
        if victim.former_perpetrator:
            actions += self.revise_perpetrator(*victim.former_perpetrator)
        perpetrator = perpetrator_key(incident)
        actions += self.revise_perpetrator(perpetrator, incident) if perpetrator else []
        return actions + self.departed(incident)

    def departed(self, incident: Incident) -> list[Decision]:
        """What the history of a victim that a version no longer names does (a person id
        corrected): the router's incident stage sends it there after the victim's stage."""
        self.last_versions[incident.reference], departure = claimed(
            incident, self.last_versions.get(incident.reference))
        if departure is None:
            return []
        key, governing = departure
        revision = depart_victim(governing, self.victims.get(key, VictimHistory()), self.config)
        if revision.stale:
            return []
        self.victims[key] = revision.history
        self.pair_lets_go(revision.former_pair, governing)
        former = self.revise_perpetrator(*revision.former_perpetrator) if revision.former_perpetrator else []
        return revision.actions + former

    def marked_if_counter_allegation(self, incident: Incident, actions: list[Decision]) -> list[Decision]:
        """The victim's actions, marked when the roles of an earlier incident between the
        same two people were reversed; the pair's history records this incident."""
        pair = pair_key(incident)
        if pair is None:
            return actions
        history = self.pairs.get(pair, PairHistory())
        self.pairs[pair] = history.recording(incident, PairHistory.remembered(incident, actions),
                                             self.config)
        return counter_allegation(incident, history, actions)

    def pair_lets_go(self, key: str | None, governing: Incident) -> None:
        """The two people an earlier version named no longer share the incident."""
        if key in self.pairs:
            self.pairs[key] = self.pairs[key].letting_go(governing)

    def revise_perpetrator(self, key: str, incident: Incident) -> list[Decision]:
        revision = revise_for_perpetrator(incident, self.perpetrators.get(key, PerpetratorHistory()),
                                          self.config)
        self.perpetrators[key] = revision.history
        return revision.actions

    def is_stale(self, incident: Incident) -> bool:
        return self.victims.get(incident.key, VictimHistory()).is_stale(incident)


@dataclass(frozen=True)
class Routed:
    actions: list[Decision]
    data_problems: tuple[DataProblem, ...]


def routed_lines(lines: Iterable[str], config: HubConfig):
    """(line number, what was routed or the refusal) for each non-blank line, in order."""
    router = OfflineRouter(config)
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                incident = parse_incident(line, config, received_at=datetime.now(UTC))
            except Refused as refused:
                yield number, refused
                continue
            stale = (STALE,) if router.is_stale(incident) else ()
            yield number, Routed(router.route(incident), incident.data_problems + stale)


def route_lines(lines: TextIO, out: TextIO, err: TextIO, config: HubConfig,
                explain: bool = False) -> int:
    status = 0
    for number, result in routed_lines(lines, config):
        if isinstance(result, Refused):
            for problem in result.problems:
                print(f"line {number}: {problem}", file=err)
            status = 2
            continue
        for problem in result.data_problems:
            print(f"line {number}: data problem: {problem.path}: {problem.problem}", file=err)
        for decision in result.actions:
            out.write(json.dumps(decision.as_route_output(explain)) + "\n")
    return status


def _decisions(lines: list[str], config: HubConfig) -> tuple[dict[str, tuple[str, Decision]], int]:
    """referral id -> (area name, decision), and how many lines the configuration refused."""
    decisions: dict[str, tuple[str, Decision]] = {}
    refused = 0
    for _, result in routed_lines(lines, config):
        if isinstance(result, Refused):
            refused += 1
            continue
        for decision in (a for a in result.actions if a.action == "refer"):  # new referrals only
            decisions[decision.referral_id] = (config.areas[decision.area].name, decision)
    return decisions, refused


def compare_lines(lines: TextIO, out: TextIO, old: HubConfig, new: HubConfig) -> int:
    """The change per area and pathway between two configurations: how many referrals, and
    of those both make (the same referral id), how many are due earlier or later, or go
    to another recipient."""
    incidents = list(lines)
    (before, refused_before), (after, refused_after) = _decisions(incidents, old), _decisions(incidents, new)
    rows: dict[tuple[str, str], list[int]] = {}  # old, new, earlier, later, recipient
    for decisions, column in ((before, 0), (after, 1)):
        for area, decision in decisions.values():
            rows.setdefault((area, decision.pathway), [0] * 5)[column] += 1
    for referral in before.keys() & after.keys():
        (area, was), (_, now) = before[referral], after[referral]
        row = rows[(area, now.pathway)]
        row[2] += now.due_at < was.due_at
        row[3] += now.due_at > was.due_at
        row[4] += now.recipient != was.recipient
    out.write(f"{'area':<12} {'pathway':<19} {'old':>6} {'new':>6} {'change':>7} "
              f"{'earlier':>8} {'later':>6} {'recipient':>10}\n")
    for (area, pathway), (was, now, earlier, later, moved) in sorted(rows.items()):
        out.write(f"{area:<12} {pathway:<19} {was:>6} {now:>6} {now - was:>+7} "
                  f"{earlier:>8} {later:>6} {moved:>10}\n")
    out.write(f"{'refused lines':<32} {refused_before:>6} {refused_after:>6} "
              f"{refused_after - refused_before:>+7}\n")
    return 0
