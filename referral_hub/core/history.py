"""Each person's history as the rules see it: earlier incidents by victim and by
perpetrator, and whether they were referred to MARAC or MATAC (spec: pathways.md, History).

The router keeps one per person (force and person id) in a faust table; `referral-hub
route` keeps them in memory. Both build it with `after`, from the decisions the rules made.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from referral_hub.config import HubConfig
from referral_hub.core.incident import UK, Incident


class Decision(Protocol):
    """What history needs of a rules decision (rules.Decision), without importing the rules."""
    pathway: str

@dataclass(frozen=True)
class PriorIncident:
    """An earlier incident with the same victim, as the router remembers it."""
    reference: str
    reported_at: datetime
    referred_to_marac: bool


@dataclass(frozen=True)
class PerpetratorIncident:
    """An incident recorded against a perpetrator, with whom it was against."""
    reference: str
    victim_key: str
    reported_at: datetime
    referred_to_matac: bool


@dataclass(frozen=True)
class PairIncident:
    """An incident between two people, with which of them was the victim."""
    reference: str
    victim_id: str
    reported_at: datetime


def uk_day(moment: datetime) -> date:
    return moment.astimezone(UK).date()


def _forget_older(entries: tuple, keep_days: int) -> tuple:
    """Drop what lies outside every rule's window, counted back from the newest entry."""
    newest = max(uk_day(e.reported_at) for e in entries)
    return tuple(e for e in entries if (newest - uk_day(e.reported_at)).days <= keep_days)


@dataclass(frozen=True)
class _PersonHistory:
    incidents: tuple = ()

    def has(self, reference: str) -> bool:
        return any(prior.reference == reference for prior in self.incidents)

    def after(self, incident: Incident, decisions: list[Decision], config: HubConfig):
        """The history this person's next incident sees, forgetting what no rule of the
        incident's area looks back to."""
        if self.has(incident.reference):
            return self
        entry = self.remembered(incident, decisions)
        keep_days = config.areas[incident.local_authority].windows.longest_days
        return type(self)(_forget_older((*self.incidents, entry), keep_days))


@dataclass(frozen=True)
class VictimHistory(_PersonHistory):
    incidents: tuple[PriorIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision]) -> PriorIncident:
        return PriorIncident(incident.reference, incident.reported_at,
                             any(d.pathway == "MARAC" for d in decisions))


@dataclass(frozen=True)
class PerpetratorHistory(_PersonHistory):
    incidents: tuple[PerpetratorIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision]) -> PerpetratorIncident:
        return PerpetratorIncident(incident.reference, incident.key, incident.reported_at,
                                   any(d.pathway == "MATAC" for d in decisions))


@dataclass(frozen=True)
class PairHistory(_PersonHistory):
    """The incidents between this victim and this perpetrator, whichever was the victim:
    kept by the unordered pair of person ids, for counter-allegations."""
    incidents: tuple[PairIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision]) -> PairIncident:
        return PairIncident(incident.reference, incident.victim.person_id, incident.reported_at)

    def reversed_roles(self, incident: Incident, days: int) -> PairIncident | None:
        """The nearest incident already known, within `days` UK calendar days of this one,
        in which this incident's perpetrator was the victim (so this victim was the
        perpetrator). Usually an earlier one; a later one only when it reached the hub
        first (two notifications sent together, a late notification): whichever of the two
        comes second carries the warning, so neither order loses it."""
        today = incident.reported_date
        reversed_ = [p for p in self.incidents
                     if p.victim_id == incident.perpetrator.person_id and p.reference != incident.reference
                     and abs((today - uk_day(p.reported_at)).days) <= days]
        return min(reversed_, key=lambda p: abs(p.reported_at - incident.reported_at), default=None)


@dataclass(frozen=True)
class History:
    """What the hub knew before this incident, about its victim, its perpetrator and the
    two of them together."""
    victim: VictimHistory = VictimHistory()
    perpetrator: PerpetratorHistory = PerpetratorHistory()
    pair: PairHistory = PairHistory()
