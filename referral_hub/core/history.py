"""Each person's history as the rules see it: earlier incidents by victim and by
perpetrator, and whether they were referred to MARAC or MATAC (spec: pathways.md, History).

The router keeps one per person (force and person id) in a faust table; `referral-hub
route` keeps them in memory. Both build it with `recording`, from the decisions the rules made.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from datetime import date, datetime
from typing import Protocol

from referral_hub.config import HubConfig
from referral_hub.core.incident import UK, Incident


class Decision(Protocol):
    """What history needs of a rules decision (rules.Decision), without importing the rules."""
    pathway: str

@dataclass(frozen=True)
class SentReferral:
    """What a referral's recipient was last sent: the decision and a digest of its record
    (to tell whether an amendment changes it); `live` until recalled."""
    decision: Decision
    digest: str = ""  # "": not yet digested; made from the entry's notification
    live: bool = True


@dataclass(frozen=True)
class PriorIncident:
    """An earlier incident with the same victim, as the router remembers it: the last
    version seen, whether it was withdrawn, and what each of its referrals' recipients got."""
    reference: str
    reported_at: datetime
    referred_to_marac: bool
    version: int = 1
    withdrawn: bool = False
    sent: tuple[SentReferral, ...] = ()
    # The notification itself (JSON), so a late notification can decide this one again.
    notification: str = ""


@dataclass(frozen=True)
class PerpetratorIncident:
    """An incident recorded against a perpetrator, with whom it was against."""
    reference: str
    victim_key: str
    reported_at: datetime
    referred_to_matac: bool
    version: int = 1
    withdrawn: bool = False
    sent: tuple[SentReferral, ...] = ()
    notification: str = ""  # kept only when a referral was made: to tell what an amendment changes


@dataclass(frozen=True)
class PairIncident:
    """An incident between two people, with which of them was the victim."""
    reference: str
    victim_id: str
    reported_at: datetime
    withdrawn: bool = False
    version: int = 1


def uk_day(moment: datetime) -> date:
    return moment.astimezone(UK).date()


def beyond_window(reported_at: datetime, day: date, keep_days: int) -> bool:
    """Whether an incident reported then lies more than `keep_days` UK calendar days before
    `day`: no rule deciding on that day looks back to it."""
    return (day - uk_day(reported_at)).days > keep_days


def _forget_older(entries: tuple, keep_days: int) -> tuple:
    """Drop what lies outside every rule's window, counted back from the newest entry."""
    newest = max(uk_day(e.reported_at) for e in entries)
    return tuple(e for e in entries if not beyond_window(e.reported_at, newest, keep_days))


@dataclass(frozen=True)
class _PersonHistory:
    incidents: tuple = ()

    def has(self, reference: str) -> bool:
        return self.entry(reference) is not None

    def is_stale(self, incident: Incident) -> bool:
        """This version changes nothing: the same or a lower version of the incident is
        recorded already, or the incident was withdrawn (any version after is stale)."""
        prior = self.entry(incident.reference)
        return prior is not None and (prior.withdrawn or incident.version <= prior.version)

    def forgotten(self, today: date, keep_days: int) -> bool:
        """Whether every incident of it lies more than `keep_days` UK calendar days before
        `today`: no rule looks back to it from an incident reported today or later, so the
        person can leave the router's table (with the notifications it keeps)."""
        return all(beyond_window(p.reported_at, today, keep_days) for p in self.incidents)

    def entry(self, reference: str):
        return next((prior for prior in self.incidents if prior.reference == reference), None)

    def without(self, reference: str):
        """The history less one incident: what a new version of it is decided against."""
        return type(self)(tuple(p for p in self.incidents if p.reference != reference))

    @cached_property
    def counted(self) -> tuple:
        """The incidents the rules count: a withdrawn one is kept only to know it was."""
        return tuple(p for p in self.incidents if not p.withdrawn)

    def recording(self, incident: Incident, entry, config: HubConfig):
        """This history with `entry` (replacing any earlier version's), bounded by the
        longest window of the incident's area."""
        keep_days = config.rules_area(incident.local_authority, incident.force).windows.longest_days
        others = tuple(p for p in self.incidents if p.reference != entry.reference)
        return type(self)(_forget_older((*others, entry), keep_days))


@dataclass(frozen=True)
class VictimHistory(_PersonHistory):
    incidents: tuple[PriorIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision],
                   sent: tuple[SentReferral, ...] = ()) -> PriorIncident:
        return PriorIncident(incident.reference, incident.reported_at,
                             any(d.pathway == "MARAC" for d in decisions),
                             incident.version, incident.status == "withdrawn", sent,
                             incident.model_dump_json())


@dataclass(frozen=True)
class PerpetratorHistory(_PersonHistory):
    incidents: tuple[PerpetratorIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision],
                   sent: tuple[SentReferral, ...] = ()) -> PerpetratorIncident:
        return PerpetratorIncident(incident.reference, incident.key, incident.reported_at,
                                   any(d.pathway == "MATAC" for d in decisions),
                                   incident.version, incident.status == "withdrawn", sent,
                                   incident.model_dump_json() if sent else "")


@dataclass(frozen=True)
class PairHistory(_PersonHistory):
    """The incidents between this victim and this perpetrator, whichever was the victim:
    kept by the unordered pair of person ids, for counter-allegations."""
    incidents: tuple[PairIncident, ...] = ()

    @staticmethod
    def remembered(incident: Incident, decisions: list[Decision]) -> PairIncident:
        return PairIncident(incident.reference, incident.victim.person_id, incident.reported_at,
                            incident.status == "withdrawn", incident.version)

    def letting_go(self, governing: Incident) -> PairHistory:
        """This history less the incident's versions below `governing`, a later version that
        no longer names these two people (a person id corrected): no counter-allegation looks
        at it again. A version as high stays (the incident named them again), so a departure
        processed twice, or after that, changes nothing."""
        return PairHistory(tuple(p for p in self.incidents
                                 if p.reference != governing.reference or p.version >= governing.version))

    def reversed_roles(self, incident: Incident, days: int) -> PairIncident | None:
        """The nearest incident already known, within `days` UK calendar days of this one,
        in which this incident's perpetrator was the victim (so this victim was the
        perpetrator). Usually an earlier one; a later one only when it reached the hub
        first (two notifications sent together, a late notification): whichever of the two
        comes second carries the warning, so neither order loses it."""
        today = incident.reported_date
        reversed_ = [p for p in self.counted
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
