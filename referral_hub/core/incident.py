"""The incident notification: the hub's input contract (shared/spec/incident-notification.md).

Field names are the JSON names of the spec and must not change without a new
schema_version. Parsing is strict (no numbers where text is due, no unknown fields)
because a silently ignored misspelt field could send a victim down the wrong pathway.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

UK = ZoneInfo("Europe/London")
Gender = Literal["female", "male", "other", "unknown"]
Grade = Literal["standard", "medium", "high"]
Flag = Literal["non_fatal_strangulation", "stalking", "threats_to_kill", "honour_based_abuse",
               "pregnancy", "separation", "weapons", "coercive_control", "adult_at_risk",
               "no_recourse_to_public_funds", "forced_marriage"]
Setting = Literal["school", "college", "early_years", "home_educated", "none", "unknown"]
Adult = Literal["victim", "perpetrator"]
# Where it happened, as a kind of place for the Encompass notice: never the address.
LocationType = Literal["victim_home", "perpetrator_home", "shared_home", "public_place", "other"]
WithdrawalReason = Literal["sent_in_error", "not_domestic_abuse", "duplicate_of_another_incident",
                           "wrong_person"]
# Set by the hub, never by a sender: why a child entry needs a person to check it.
# "check": notified as usual; "fallback": notified to the area's Encompass coordinator.
ChildDataProblem = Literal["check", "fallback"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Contact(_Contract):
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{6,20}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    safe_to_contact: bool
    safe_contact_notes: str | None = Field(default=None, max_length=2000)


class _Person(_Contract):
    person_id: str = Field(min_length=1, max_length=64)
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    date_of_birth: date


class Victim(_Person):
    gender: Gender
    contact: Contact
    postcode: str | None = Field(default=None,
                                 pattern=r"^(?i:[A-Z]{1,2}[0-9][A-Z0-9]?( ?[0-9][A-Z]{2})?)$")


class Perpetrator(_Contract):
    person_id: str = Field(min_length=1, max_length=64)
    date_of_birth: date | None = None
    gender: Gender = "unknown"
    relationship: Literal["partner", "ex_partner", "family_member", "other"]


class Risk(_Contract):
    tool: Literal["DASH", "DARA", "MERIT", "NONE"]
    dash_yes_count: int | None = Field(default=None, ge=0, le=27)
    merit_score: int | None = Field(default=None, ge=0)
    merit_grade: Literal["gold", "silver", "bronze"] | None = None
    officer_grade: Grade | None = None
    professional_judgement: bool = False
    professional_judgement_reason: str | None = Field(default=None, max_length=2000)


class ProtectiveNotice(_Contract):
    type: Literal["DVPN", "DVPO", "DAPN", "DAPO"]
    issued_at: AwareDatetime
    expires_at: AwareDatetime


class Education(_Contract):
    setting: Setting
    urn: str | None = Field(default=None, pattern=r"^(?:[0-9]{6,7}|[A-Z]{2}[0-9]{6})$")


class Child(_Person):
    date_of_birth: date | None = None  # None: missing or impossible, taken as under 18
    present: bool
    resides_with: list[Adult] = Field(max_length=2)
    # Second edition: the son or daughter (or in the care) of that adult, wherever the
    # child lives (statutory Encompass guidance, 2025).
    related_to: list[Adult] = Field(default_factory=list, max_length=2)
    education: Education
    # What the child said or how the child seemed, for the Key Adult only.
    voice: str | None = Field(default=None, max_length=2000)  # validation: VOICE_MAX_CHARACTERS
    data_problem: ChildDataProblem | None = None


class DataProblem(_Contract):
    """Something wrong in an accepted notification: the field's path and what is wrong,
    never the value. A bad child entry makes the MASH check the household's children."""
    path: str
    problem: str
    bad_child_entry: bool = False


class Incident(_Contract):
    schema_version: Literal[1]
    # Its character set keeps what an outsider typed out of log lines (incident_ref).
    incident_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-_./:]+$")
    force: str = Field(min_length=1, max_length=64)
    local_authority: str = Field(pattern=r"^(?:E0[6789]|W06)[0-9]{6}$")
    reported_at: AwareDatetime
    occurred_at: AwareDatetime | None = None
    victim: Victim
    perpetrator: Perpetrator | None = None
    risk: Risk
    flags: list[Flag] = Field(default_factory=list, max_length=20)
    protective_notice: ProtectiveNotice | None = None
    children: list[Child] = Field(default_factory=list, max_length=30)
    consent_to_share: bool
    version: int = Field(default=1, ge=1)
    status: Literal["current", "withdrawn"] = "current"
    withdrawal_reason: WithdrawalReason | None = None
    sent_at: AwareDatetime | None = None
    location_type: LocationType | None = None
    # Set by the hub's validation (never accepted from a sender): what it could not use.
    data_problems: tuple[DataProblem, ...] = ()

    @property
    def key(self) -> str:
        """The victim's partition key: keeps one victim's incidents in order on every topic."""
        return f"{self.force}:{self.victim.person_id}"

    @property
    def reference(self) -> str:
        """Unique across forces: the same incident sent twice has the same reference."""
        return f"{self.force}/{self.incident_id}"

    @property
    def clock_start(self) -> datetime:
        """Where the clocks of referrals this version first brings about start: the later of
        reported_at and sent_at (a notification's own referrals start at reported_at)."""
        return max(self.reported_at, self.sent_at or self.reported_at)

    @property
    def has_bad_child_entry(self) -> bool:
        return any(c.data_problem for c in self.children) or \
            any(p.bad_child_entry for p in self.data_problems)

    @property
    def person_ids(self) -> set[str]:
        people = {self.victim.person_id} | {c.person_id for c in self.children}
        return people | ({self.perpetrator.person_id} if self.perpetrator else set())

    @property
    def reported_date(self) -> date:
        """Ages are counted on the UK calendar day of the report."""
        return self.reported_at.astimezone(UK).date()


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
