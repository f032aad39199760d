"""The pathway rules (shared/spec/pathways.md): who gets a referral, why, and by when.

`decide(incident, history, config)` is a pure function: no Kafka, HTTP, clock or file
reads. The router and `referral-hub route` both call it, so "why did this case go to
MARAC" is answered here and nowhere else.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .config import Area, HubConfig, Pathway, RiskThresholds
from .deadlines import due_at
from .incident import UK, Child, Incident, Risk, age_on

LEVELS = ("standard", "medium", "high")
SCHOOL_SETTINGS = ("school", "college", "early_years")
SUPPORT_PATHWAYS_NEEDING_CONSENT = ("COMMUNITY_ADVOCACY", "YOUNG_PEOPLE")


@dataclass(frozen=True)
class PriorIncident:
    """An earlier incident with the same victim, as the router remembers it."""
    reference: str
    reported_at: datetime
    referred_to_marac: bool


@dataclass(frozen=True)
class History:
    """What the hub knew about the victim before this incident."""
    incidents: tuple[PriorIncident, ...] = ()

    def has(self, reference: str) -> bool:
        return any(prior.reference == reference for prior in self.incidents)

    def after(self, incident: Incident, decisions: list[Decision]) -> History:
        """The history the next incident sees: this one added, unless it was already known."""
        if self.has(incident.reference):
            return self
        referred = any(d.pathway == "MARAC" for d in decisions)
        return History((*self.incidents,
                        PriorIncident(incident.reference, incident.reported_at, referred)))


@dataclass(frozen=True)
class Decision:
    """One referral: the decision format of the spec's last section, plus its ids."""
    referral_id: str
    incident_id: str
    force: str
    area: str
    pathway: Pathway
    subject_id: str
    recipient: str
    reasons: tuple[str, ...]
    reported_at: datetime
    due_at: datetime
    config_version: str

    def as_route_output(self) -> dict:
        """The JSON object `referral-hub route` prints (spec: the rules without Kafka)."""
        return {"incident_id": self.incident_id, "pathway": self.pathway,
                "subject_id": self.subject_id, "recipient": self.recipient,
                "reasons": list(self.reasons), "due_at": _utc_text(self.due_at)}

    def as_record(self) -> dict:
        """The referral record on referrals.v1 (schemas/avro/referral.avsc)."""
        return {"referral_id": self.referral_id, "incident_id": self.incident_id,
                "force": self.force, "area": self.area, "pathway": self.pathway,
                "subject_id": self.subject_id, "recipient": self.recipient,
                "reasons": list(self.reasons), "reported_at": self.reported_at,
                "due_at": self.due_at, "config_version": self.config_version}


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def referral_id(incident: Incident, pathway: str, subject_id: str) -> str:
    """Deterministic, so a replayed incident yields the same ids and changes nothing."""
    digest = hashlib.sha256(f"{incident.reference}|{pathway}|{subject_id}".encode()).hexdigest()
    return f"ref-{digest[:24]}"


# --- risk ---------------------------------------------------------------------------

def tool_level(risk: Risk, thresholds: RiskThresholds) -> str | None:
    """The risk tool's own result; None where the tool has no score of its own."""
    if risk.tool == "DASH":
        if risk.dash_yes_count >= thresholds.dash_high:
            return "high"
        return "medium" if risk.dash_yes_count >= thresholds.dash_medium else "standard"
    if risk.tool == "MERIT":
        if risk.merit_grade == "gold" or (risk.merit_score or 0) >= thresholds.merit_high_score:
            return "high"
        return {"silver": "medium"}.get(risk.merit_grade, "standard")
    if risk.tool == "DARA":
        return risk.officer_grade  # the DARA result is the officer's grade
    return None


def risk_level(risk: Risk, thresholds: RiskThresholds) -> str:
    """The higher of the tool's result and the officer's grade: judgement never lowers."""
    candidates = [level for level in (tool_level(risk, thresholds), risk.officer_grade) if level]
    return max(candidates, key=LEVELS.index)


def marac_criteria(incident: Incident, history: History, area: Area) -> list[str]:
    """The SafeLives criteria that hold and that this area acts on, in the spec's order."""
    risk, windows = incident.risk, area.windows
    tool = tool_level(risk, area.risk)
    # Windows count UK calendar days: an incident 365 days earlier is inside, 366 is not.
    days_before = [((incident.reported_date - p.reported_at.astimezone(UK).date()).days, p)
                   for p in history.incidents if p.reported_at <= incident.reported_at]
    recent = [p for days, p in days_before if days <= windows.escalation_days]
    holds = {
        "visible_high_risk": tool == "high",
        "professional_judgement": risk.professional_judgement or (
            risk.officer_grade == "high" and tool != "high"),
        "potential_escalation": len(recent) + 1 >= windows.escalation_incidents,
        "repeat_marac": any(p.referred_to_marac and days <= windows.repeat_marac_days
                            for days, p in days_before),
    }
    return [criterion for criterion in area.marac_criteria if holds[criterion]]


# --- pathways -----------------------------------------------------------------------

@dataclass
class _Decider:
    incident: Incident
    history: History
    config: HubConfig
    area: Area = field(init=False)
    decisions: list[Decision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.area = self.config.areas[self.incident.local_authority]

    def refer(self, pathway: Pathway, subject_id: str, recipient: str, reasons: list[str],
              deadline_hours: int | None = None) -> None:
        reported_at = self.incident.reported_at
        due = due_at(self.area.deadlines[pathway], reported_at,
                     self.area.working_day_starts, self.area.school_day_starts)
        if deadline_hours is not None:
            due = min(due, (reported_at + timedelta(hours=deadline_hours)).astimezone(UTC))
        self.decisions.append(Decision(
            referral_id=referral_id(self.incident, pathway, subject_id),
            incident_id=self.incident.incident_id, force=self.incident.force,
            area=self.area.gss_code, pathway=pathway, subject_id=subject_id,
            recipient=recipient, reasons=tuple(reasons), reported_at=reported_at,
            due_at=due, config_version=self.config.version))

    def victim_pathways(self) -> None:
        incident, area = self.incident, self.area
        victim_id = incident.victim.person_id
        age = age_on(incident.victim.date_of_birth, incident.reported_date)
        if age < 16:
            return  # not domestic abuse in law: a child protection matter, MASH IDVA only
        criteria = marac_criteria(incident, self.history, area)
        if criteria:
            self.refer("MARAC", victim_id, area.recipients["MARAC"].id, criteria)
            self.refer("IDVA", victim_id, area.recipients["IDVA"].id, criteria)
        elif incident.consent_to_share:
            self.support_pathway(age)
        older = age >= area.windows.older_victim_age
        at_risk = "adult_at_risk" in incident.flags
        if age >= 18 and (older or at_risk):
            reasons = ["older_victim"] * older + ["adult_at_risk"] * at_risk
            self.refer("ADULT_SAFEGUARDING", victim_id,
                       area.recipients["ADULT_SAFEGUARDING"].id, reasons)

    def support_pathway(self, age: int) -> None:
        """Community advocacy (18+) or the young people's service (16-17) below MARAC."""
        incident = self.incident
        pathway = "COMMUNITY_ADVOCACY" if age >= 18 else "YOUNG_PEOPLE"
        reasons = [] if age >= 18 else ["victim_16_17"]
        reasons.append(f"{risk_level(incident.risk, self.area.risk)}_risk")
        notice = incident.protective_notice
        in_force = notice is not None and notice.expires_at > incident.reported_at
        if in_force:
            reasons.append("protective_notice")
        self.refer(pathway, incident.victim.person_id, self.area.recipients[pathway].id,
                   reasons, deadline_hours=self.area.protective_notice_hours if in_force else None)

    def children_pathways(self) -> None:
        incident = self.incident
        involved = [c for c in incident.children if c.present or c.resides_with]
        for child in involved:
            self.encompass(child)
        reasons = ["children_in_household"] if involved else []
        victim_age = age_on(incident.victim.date_of_birth, incident.reported_date)
        if 16 <= victim_age < 18:
            reasons.append("victim_16_17")
        if victim_age < 16:
            reasons.append("victim_under_16")
        perpetrator = incident.perpetrator
        if perpetrator and perpetrator.date_of_birth and \
                age_on(perpetrator.date_of_birth, incident.reported_date) < 18:
            reasons.append("perpetrator_under_18")
        if reasons:
            self.refer("MASH_IDVA", incident.victim.person_id,
                       self.area.recipients["MASH_IDVA"].id, reasons)

    def encompass(self, child: Child) -> None:
        """One notification per child, to the Key Adult of the child's setting."""
        reasons = ["child_present"] * child.present + ["child_resident"] * bool(child.resides_with)
        education = child.education
        if education.setting == "home_educated":
            recipient = self.area.recipients["HOME_EDUCATION"].id
            reasons.append("home_educated")
        elif education.setting in SCHOOL_SETTINGS:
            setting = self.config.education_settings.get(education.urn or "")
            if setting:
                recipient = setting.recipient_id
            else:
                recipient = self.area.recipients["ENCOMPASS_FALLBACK"].id
                reasons.append("setting_not_in_directory")
        else:
            return  # none or unknown: no setting to tell; MASH IDVA still lists the child
        self.refer("ENCOMPASS", child.person_id, recipient, reasons)


def decide(incident: Incident, history: History, config: HubConfig) -> list[Decision]:
    """Every referral this incident calls for, given the victim's history."""
    if history.has(incident.reference):
        return []  # the same incident again changes nothing
    decider = _Decider(incident, history, config)
    decider.victim_pathways()
    decider.children_pathways()
    return decider.decisions
