"""The pathway rules (shared/spec/pathways.md): who gets a referral, why, and by when.

`decide(incident, history, config)` is a pure function: no Kafka, HTTP, clock or file
reads. The router and `referral-hub route` both call it, so "why did this case go to
MARAC" is answered here and nowhere else. Every decision carries its reasons (the spec's
codes) and an explanation in plain words: the rule and the facts behind it.

The rules come in three parts because they need three histories: the victim's (escalation,
repeat MARAC), the pair's (the victim and perpetrator together: counter-allegations) and
the perpetrator's (MATAC). The streaming router keeps each with its own partitioning and
calls `decide_for_victim`, `counter_allegation` and `decide_for_perpetrator` in turn;
`decide` is all three, for the offline command.
"""
from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from referral_hub.config import Area, HubConfig, Pathway, RiskThresholds, SpecialistService
from referral_hub.core.deadlines import describe, due_at
from referral_hub.core.history import History, PairHistory, PerpetratorHistory, VictimHistory, uk_day
from referral_hub.core.incident import UK, Child, Incident, ProtectiveNotice, Risk, age_on

LEVELS = ("standard", "medium", "high")
SCHOOL_SETTINGS = ("school", "college", "early_years")
ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}
# Victim pathways whose deadline a protective notice in force shortens (pathways.md, Deadlines).
NOTICE_PATHWAYS = frozenset({"MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE", "SPECIALIST",
                             "OUT_OF_AREA"})
VICTIM_PATHWAYS = NOTICE_PATHWAYS | {"ADULT_SAFEGUARDING", "MASH_IDVA"}
COUNTER_ALLEGATION_DAYS = 365


# --- decisions ----------------------------------------------------------------------

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
    explanation: tuple[str, ...] = field(default=(), compare=False)
    # MATAC: the incidents that make the pattern; a possible counter-allegation: the earlier
    # incident with the roles reversed (the spec's `related_incidents`).
    linked_incidents: tuple[str, ...] = ()
    action: str = "refer"  # refer, amend or recall (spec: Amendments and withdrawals)

    def as_route_output(self, explain: bool = False) -> dict:
        """The JSON object `referral-hub route` prints (spec: the rules without Kafka)."""
        output = {"incident_id": self.incident_id, "pathway": self.pathway,
                  "subject_id": self.subject_id, "recipient": self.recipient,
                  "reasons": list(self.reasons), "due_at": _utc_text(self.due_at),
                  "action": self.action, "referral_id": self.referral_id,
                  "related_incidents": list(self.linked_incidents)}
        return output | {"explanation": list(self.explanation)} if explain else output

    def as_record(self) -> dict:
        """The referral record on referrals.v1 (schemas/avro/referral.avsc)."""
        return {"referral_id": self.referral_id, "incident_id": self.incident_id,
                "force": self.force, "area": self.area, "pathway": self.pathway,
                "subject_id": self.subject_id, "recipient": self.recipient,
                "reasons": list(self.reasons), "reported_at": self.reported_at,
                "due_at": self.due_at, "config_version": self.config_version,
                "action": self.action, "related_incidents": list(self.linked_incidents)}


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_text(moment: datetime) -> str:
    return moment.astimezone(UK).strftime("%A %d %B %Y %H:%M")


def referral_id(incident: Incident, pathway: str, subject_id: str, recipient: str | None = None) -> str:
    """Deterministic, so a replayed incident yields the same ids and changes nothing. Only
    SPECIALIST has several referrals of one subject (one per service): its ids name the
    recipient too."""
    key = f"{incident.reference}|{pathway}|{subject_id}" + (f"|{recipient}" if recipient else "")
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"ref-{digest[:24]}"


# --- risk ---------------------------------------------------------------------------

def tool_level(risk: Risk, thresholds: RiskThresholds) -> str | None:
    """The risk tool's own result; None where the tool has no score of its own."""
    if risk.tool == "DASH":
        if risk.dash_yes_count is None:
            return None  # a count that could not be used (a data problem): the grade decides
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


def describe_risk(risk: Risk, thresholds: RiskThresholds) -> str:
    """The tool's result in plain words, with the threshold that made it so."""
    level = tool_level(risk, thresholds)
    if risk.tool == "DASH" and level is None:
        return "DASH result not usable"
    if risk.tool == "DASH":
        bands = {"high": f"{thresholds.dash_high} or more", "medium":
                 f"{thresholds.dash_medium}-{thresholds.dash_high - 1}",
                 "standard": f"under {thresholds.dash_medium}"}
        return f"DASH {risk.dash_yes_count} yes answers ({bands[level]} is {level})"
    if risk.tool == "MERIT":
        if risk.merit_grade:
            return f"MERIT {risk.merit_grade} ({level})"
        return f"MERIT score {risk.merit_score} ({thresholds.merit_high_score} or more is high; {level})"
    if risk.tool == "DARA":
        return f"DARA graded {level} by the officer"
    return "no risk tool used"


# --- windows ------------------------------------------------------------------------

def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _within(day: date, other: date, months: int) -> bool:
    """`other` lies within `months` calendar months of `day`, either side."""
    earlier, later = sorted((day, other))
    return earlier >= _months_before(later, months)


# --- the victim's pathways ----------------------------------------------------------

@dataclass
class _Decider:
    incident: Incident
    config: HubConfig
    clock_start: datetime | None = None  # when deadlines count from; reported_at unless amended
    area: Area = field(init=False)
    decisions: list[Decision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.area = self.config.rules_area(self.incident.local_authority, self.incident.force)

    @property
    def victim_age(self) -> int:
        return age_on(self.incident.victim.date_of_birth, self.incident.reported_date)

    def refer(self, pathway: Pathway, subject_id: str, recipient: str, reasons: dict[str, str],
              notes: tuple[str, ...] = (), linked_incidents: tuple[str, ...] = (),
              school_area: Area | None = None) -> None:
        """Record a referral; `reasons` maps each reason code to its facts in plain words.
        `school_area` is the area whose term dates count (an Encompass notice's)."""
        reported_at = self.incident.reported_at
        due, rule = self.deadline(pathway, school_area or self.area)
        explanation = [f"{code}: {fact}" for code, fact in reasons.items()] + list(notes)
        explanation += self.data_problems_seen_by(pathway)
        explanation.append(f"due {_local_text(due)} UK time: {rule}")
        self.decisions.append(Decision(
            referral_id=referral_id(self.incident, pathway, subject_id,
                                    recipient if pathway == "SPECIALIST" else None),
            incident_id=self.incident.incident_id, force=self.incident.force,
            area=self.area.gss_code, pathway=pathway, subject_id=subject_id,
            recipient=recipient, reasons=tuple(reasons), reported_at=reported_at,
            due_at=due, config_version=self.config.version, explanation=tuple(explanation),
            linked_incidents=linked_incidents))

    def deadline(self, pathway: Pathway, school_area: Area) -> tuple[datetime, str]:
        """(due_at, the rule in words): the area's usual deadline, or for a victim pathway
        with a protective notice in force the earliest of that, the notice hours after the
        report, and the notice's expiry: support must come while the notice protects. Clocks
        start at the report, or for what an amendment first brings about, when it was sent."""
        starts_at, area = self.clock_start or self.incident.reported_at, self.area
        usual = due_at(area.deadlines[pathway], starts_at, area.working_day_starts,
                       school_area.school_day_starts, school_area.term_dates)
        start = "the report" if starts_at == self.incident.reported_at else "this version was sent"
        after = f"after {start} ({_local_text(starts_at)})"
        candidates = [(usual, f"{describe(area.deadlines[pathway])} {after}")]
        notice = self.notice_in_force
        if notice and pathway in NOTICE_PATHWAYS:
            hours = area.protective_notice_hours
            candidates += [
                ((starts_at + timedelta(hours=hours)).astimezone(UTC),
                 f"{hours} hours {after}, as a {notice.type} is in force"),
                (notice.expires_at.astimezone(UTC), f"when the {notice.type} expires, sooner than "
                                                    f"{describe(area.deadlines[pathway])} {after}")]
        return min(candidates, key=lambda candidate: candidate[0])  # ties: the usual rule

    @property
    def notice_in_force(self) -> ProtectiveNotice | None:
        """The protective notice, unless it expired by the time of the report (then ignored)."""
        notice = self.incident.protective_notice
        return notice if notice is not None and notice.expires_at > self.incident.reported_at else None

    def data_problems_seen_by(self, pathway: str) -> list[str]:
        """The data problems a recipient of this pathway is told of: those in what it is
        sent about the adults (children's problems go to the MASH and the coordinator)."""
        if pathway == "ENCOMPASS":
            return []
        return [f"data problem: {p.path}: {p.problem}" for p in self.incident.data_problems
                if not p.path.startswith("children")]

    def marac_criteria(self, history: VictimHistory) -> dict[str, str]:
        """The SafeLives criteria that hold and that this area acts on, with their facts."""
        incident, windows, thresholds = self.incident, self.area.windows, self.area.risk
        risk, tool = incident.risk, tool_level(incident.risk, thresholds)
        today = incident.reported_date
        # Windows count UK calendar days: an incident 365 days earlier is inside, 366 is not.
        earlier = [((today - uk_day(p.reported_at)).days, p) for p in history.counted
                   if p.reported_at <= incident.reported_at]
        recent = sorted(today - timedelta(days=d) for d, _ in earlier if d <= windows.escalation_days)
        marac_days = [d for d, p in earlier if p.referred_to_marac and d <= windows.repeat_marac_days]
        holds = {}
        if tool == "high":
            holds["visible_high_risk"] = describe_risk(risk, thresholds)
        if risk.professional_judgement:
            holds["professional_judgement"] = "the officer asked for MARAC on professional judgement"
        elif risk.officer_grade == "high" and tool != "high":
            holds["professional_judgement"] = (f"the officer graded the risk high; "
                                               f"{describe_risk(risk, thresholds)}")
        if len(recent) + 1 >= windows.escalation_incidents:
            dates = ", ".join(str(d) for d in [*recent, today])
            count = len(recent) + 1
            holds["potential_escalation"] = (f"{ORDINALS.get(count, f'{count}th')} incident in "
                                             f"{windows.escalation_days} days: {dates}")
        if marac_days:
            last = min(marac_days)
            holds["repeat_marac"] = (f"referred to MARAC for the incident of "
                                     f"{today - timedelta(days=last)}, {last} days before this one")
        return {c: holds[c] for c in self.area.marac_criteria if c in holds}

    def victim_pathways(self, history: VictimHistory) -> None:
        incident, area, age = self.incident, self.area, self.victim_age
        victim_id = incident.victim.person_id
        if age < 16:
            return  # not domestic abuse in law: a child protection matter, MASH IDVA only
        criteria = self.marac_criteria(history)
        if criteria:
            self.refer("MARAC", victim_id, area.recipients["MARAC"].id, criteria)
            self.refer("IDVA", victim_id, area.recipients["IDVA"].id, criteria,
                       notes=("an IDVA referral goes with every MARAC referral",))
        elif incident.consent_to_share:
            self.support_pathway()
        for service, flags in area.specialists_for(incident.flags):
            self.specialist(service, flags, alongside_marac=bool(criteria))
        older = age >= area.windows.older_victim_age
        at_risk = "adult_at_risk" in incident.flags
        if age >= 18 and (older or at_risk):
            reasons = {}
            if older:
                reasons["older_victim"] = f"victim aged {age} ({area.windows.older_victim_age} or over)"
            if at_risk:
                reasons["adult_at_risk"] = "the victim has care and support needs (flag adult_at_risk)"
            self.refer("ADULT_SAFEGUARDING", victim_id, area.recipients["ADULT_SAFEGUARDING"].id, reasons)

    def support_pathway(self) -> None:
        """Community advocacy (18+) or the young people's service (16-17) below MARAC."""
        incident, thresholds, age = self.incident, self.area.risk, self.victim_age
        pathway = "COMMUNITY_ADVOCACY" if age >= 18 else "YOUNG_PEOPLE"
        reasons = {} if age >= 18 else {"victim_16_17": f"victim aged {age}"}
        level = risk_level(incident.risk, thresholds)
        reasons[f"{level}_risk"] = (f"risk {level}: {describe_risk(incident.risk, thresholds)}"
                                    + (f", officer's grade {incident.risk.officer_grade}"
                                       if incident.risk.officer_grade else "")
                                    + "; no MARAC criterion this area acts on holds; "
                                      "the victim consented to a referral")
        notice = self.notice_in_force
        if notice:
            reasons["protective_notice"] = (f"{notice.type} in force until "
                                            f"{_local_text(notice.expires_at)}")
        self.refer(pathway, incident.victim.person_id, self.area.recipients[pathway].id, reasons)

    def specialist(self, service: SpecialistService, flags: list[str], alongside_marac: bool) -> None:
        """One referral per specialist service the victim's flags name: with consent, or
        without it alongside a MARAC referral (MARAC shares without consent)."""
        if not (alongside_marac or self.incident.consent_to_share):
            return
        reasons = {flag: f"flagged by the police; {self.area.name} sends {flag.replace('_', ' ')} "
                         f"to {service.name}" for flag in flags}
        why = ("alongside the MARAC referral, so without waiting for consent" if alongside_marac
               else "the victim consented to a referral")
        self.refer("SPECIALIST", self.incident.victim.person_id, service.id, reasons, notes=(why,))

    def children_pathways(self) -> None:
        incident, age = self.incident, self.victim_age
        household = [c for c in incident.children if c.present or c.resides_with]
        related_only = [c for c in incident.children if c.related_to and c not in household]
        for child in household + related_only:
            self.encompass(child)
        reasons = {}
        if household:
            reasons["children_in_household"] = (f"{len(household)} child(ren) present or living with "
                                                f"either adult: {', '.join(c.person_id for c in household)}")
        if related_only:
            reasons["child_related"] = (f"{len(related_only)} child(ren) of either adult living "
                                        f"elsewhere: {', '.join(c.person_id for c in related_only)}")
        if incident.has_bad_child_entry:
            reasons["child_data_problem"] = "a child entry needs checking: " + "; ".join(
                f"{p.path}: {p.problem}" for p in incident.data_problems if p.bad_child_entry)
        if 16 <= age < 18:
            reasons["victim_16_17"] = f"victim aged {age}"
        if age < 16:
            reasons["victim_under_16"] = (f"victim aged {age}: under 16, a child protection matter "
                                          "rather than domestic abuse in law")
        perpetrator = incident.perpetrator
        if perpetrator and perpetrator.date_of_birth:
            perpetrator_age = age_on(perpetrator.date_of_birth, incident.reported_date)
            if perpetrator_age < 18:
                reasons["perpetrator_under_18"] = young_perpetrator(perpetrator_age, perpetrator.relationship)
        if reasons:
            self.refer("MASH_IDVA", incident.victim.person_id,
                       self.area.recipients["MASH_IDVA"].id, reasons)

    def encompass(self, child: Child) -> None:
        """One notification per child, to the Key Adult of the child's setting."""
        reasons = {}
        if child.present:
            reasons["child_present"] = "the child was present at the incident"
        if child.resides_with:
            reasons["child_resident"] = f"the child lives with the {' and the '.join(child.resides_with)}"
        if child.related_to:
            reasons["child_related"] = (f"the child is the son or daughter of the "
                                        f"{' and of the '.join(child.related_to)}")
        # Term dates: the setting's own area; for the area's own contacts, the victim's area.
        education, notes, school_area = child.education, (), self.area
        if child.data_problem:
            reasons["child_data_problem"] = "the child's entry needs checking (see the MASH referral)"
        if child.data_problem == "fallback":
            fallback = self.area.recipients["ENCOMPASS_FALLBACK"]
            recipient_id = fallback.id
            notes = (f"told to {fallback.name}, who checks the child's details",)
        elif education.setting == "home_educated":
            recipient = self.area.recipients["HOME_EDUCATION"]
            reasons["home_educated"] = f"home educated: told to {recipient.name}"
            recipient_id = recipient.id
        elif education.setting in SCHOOL_SETTINGS:
            setting = self.config.education_settings.get(education.urn or "")
            if setting:
                recipient_id = setting.recipient_id
                notes = (f"attends {setting.name} (URN {setting.urn}): its Key Adult is told",)
                school_area = self.config.areas[setting.local_authority]  # the directory is only of served areas
                if school_area is not self.area:
                    notes += (f"school days are those of {school_area.name}, the school's area",)
            else:
                fallback = self.area.recipients["ENCOMPASS_FALLBACK"]
                recipient_id = fallback.id
                reasons["setting_not_in_directory"] = (
                    f"{education.setting} with URN {education.urn or 'not given'} is not in the "
                    f"directory: told to {fallback.name}")
        else:
            return  # none or unknown: no setting to tell; MASH IDVA still lists the child
        self.refer("ENCOMPASS", child.person_id, recipient_id, reasons, notes=notes,
                   school_area=school_area)

    def out_of_area(self) -> None:
        """A victim living outside the partnership: one referral to the force's out-of-area
        contact in place of every victim pathway and of every Encompass notice not sent to a
        setting in the directory (pathways.md, OUT_OF_AREA), with the reasons of each."""
        settings = {s.recipient_id for s in self.config.education_settings.values()}
        stands_for = [d for d in self.decisions if d.pathway in VICTIM_PATHWAYS
                      or (d.pathway == "ENCOMPASS" and d.recipient not in settings)]
        if not stands_for:
            return
        self.decisions = [d for d in self.decisions if d not in stands_for]
        contact = self.config.forces[self.incident.force].out_of_area.contact
        reasons = {"outside_partnership": (
            f"the victim lives in {self.incident.local_authority}, outside the partnership: "
            f"{contact.name} passes this to the home area, decided by {self.area.name}'s rules")}
        for decision in stands_for:
            for code in decision.reasons:
                reasons.setdefault(code, f"as for {decision.pathway}")
        self.refer("OUT_OF_AREA", self.incident.victim.person_id, contact.id, reasons,
                   notes=tuple(f"stands for {d.pathway} ({d.subject_id})" for d in stands_for))

    def matac(self, history: PerpetratorHistory) -> None:
        """A serial perpetrator goes to MATAC, at most once in the configured months."""
        if not self.area.has_matac:
            return  # the victim's area has no MATAC (St Helens, Halton): the history still counts
        incident, windows = self.incident, self.area.windows
        perpetrator = incident.perpetrator
        today = incident.reported_date
        months = 12 * windows.serial_perpetrator_years
        related = [p for p in history.counted if _within(today, uk_day(p.reported_at), months)]
        victims = {p.victim_key for p in related} | {incident.key}
        if len(victims) < windows.serial_perpetrator_victims:
            return
        if any(p.referred_to_matac and _within(today, uk_day(p.reported_at), windows.matac_once_in_months)
               for p in history.counted):
            return
        dates = ", ".join(sorted({str(uk_day(p.reported_at)) for p in related} | {str(today)}))
        self.refer("MATAC", perpetrator.person_id, self.area.recipients["MATAC"].id, {
            "serial_perpetrator": (f"recorded against {len(victims)} victims within "
                                   f"{windows.serial_perpetrator_years} years (incidents of {dates}); "
                                   f"no MATAC referral in the last {windows.matac_once_in_months} months")},
            linked_incidents=tuple(sorted({p.reference for p in related} | {incident.reference})))


def young_perpetrator(age: int, relationship: str) -> str:
    """Why a perpetrator under 18 goes to the MASH, in words true to the relationship."""
    if relationship in ("partner", "ex_partner"):
        return (f"perpetrator aged {age}, the victim's {relationship.replace('_', '-')}: "
                "abuse in a young person's relationship")
    if relationship == "family_member":
        return f"perpetrator aged {age}, a family member: possibly child-to-parent or sibling abuse"
    return f"perpetrator aged {age}"


def counter_allegation(incident: Incident, history: PairHistory, decisions: list[Decision]) -> list[Decision]:
    """Victim referrals carry `possible_counter_allegation` when this victim was recorded
    as the perpetrator against this perpetrator within 365 days (roles reversed), naming
    that incident, so that the MARAC or service looks at both before acting."""
    earlier = history.reversed_roles(incident, COUNTER_ALLEGATION_DAYS)
    if earlier is None:
        return decisions
    days = (incident.reported_date - uk_day(earlier.reported_at)).days
    span = f"{abs(days)} day{'s' * (abs(days) != 1)}"
    when = f"{span} before" if days >= 0 else f"{span} after, notified first"
    fact = (f"possible_counter_allegation: the victim was recorded as the perpetrator against "
            f"this perpetrator on {uk_day(earlier.reported_at)} (incident {earlier.reference}, "
            f"{when}): look at both before acting")
    return [replace(d, reasons=(*d.reasons, "possible_counter_allegation"),
                    explanation=(fact, *d.explanation), linked_incidents=(earlier.reference,))
            if d.pathway in VICTIM_PATHWAYS and d.action != "recall" else d for d in decisions]


def decide_for_victim(incident: Incident, history: VictimHistory, config: HubConfig,
                      clock_start: datetime | None = None) -> list[Decision]:
    """The victim's and the children's referrals, given the victim's history."""
    if history.has(incident.reference):
        return []  # the same incident again changes nothing
    decider = _Decider(incident, config, clock_start)
    decider.victim_pathways(history)
    decider.children_pathways()
    if config.is_out_of_area(incident.local_authority):
        decider.out_of_area()
    return decider.decisions


def decide_for_perpetrator(incident: Incident, history: PerpetratorHistory,
                           config: HubConfig, clock_start: datetime | None = None) -> list[Decision]:
    """The MATAC referral, if any, given the perpetrator's history."""
    if incident.perpetrator is None or history.has(incident.reference):
        return []
    decider = _Decider(incident, config, clock_start)
    decider.matac(history)
    return decider.decisions


def decide(incident: Incident, history: History, config: HubConfig) -> list[Decision]:
    """Every referral this incident calls for."""
    victims = decide_for_victim(incident, history.victim, config)
    return (counter_allegation(incident, history.pair, victims)
            + decide_for_perpetrator(incident, history.perpetrator, config))


def perpetrator_key(incident: Incident) -> str | None:
    """Partition key of the perpetrator's history: person ids are the force's own."""
    return f"{incident.force}:{incident.perpetrator.person_id}" if incident.perpetrator else None


def pair_key(incident: Incident) -> str | None:
    """Partition key of the history between two people, the same whichever is the victim:
    both incidents of a counter-allegation meet on one partition, in order."""
    if incident.perpetrator is None:
        return None
    people = sorted((incident.victim.person_id, incident.perpetrator.person_id))
    return f"{incident.force}:{people[0]}|{people[1]}"
