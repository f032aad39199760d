"""The partnership's configuration: forces, areas, recipients, thresholds, deadlines.

Everything that differs between areas lives in files under the configuration
directory, validated once at start-up. An error names the file, the key and the
problem, so whoever edited it can fix it without reading code.

    hub.toml                  forces and the hashed API keys of their systems
    areas/<area>.toml         one file per local authority
    education-settings.csv    the Operation Encompass directory (URN -> Key Adult)
"""
from __future__ import annotations

import csv
import hashlib
import ipaddress
import tomllib
from collections.abc import Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

Pathway = Literal["MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE", "ADULT_SAFEGUARDING",
                  "ENCOMPASS", "MASH_IDVA", "MATAC", "OUT_OF_AREA"]
MaracCriterion = Literal["visible_high_risk", "professional_judgement",
                         "potential_escalation", "repeat_marac"]
# Agency roles an area names a recipient for. Education settings come from the directory.
# ESCALATION is told when a referral in the area passes its deadline without contact.
RecipientRole = Literal["MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE",
                        "ADULT_SAFEGUARDING", "MASH_IDVA", "MATAC",
                        "ENCOMPASS_FALLBACK", "HOME_EDUCATION", "ESCALATION"]
EDUCATION_SETTINGS_TOPIC = "recipient.education-settings.v1"


class ConfigError(Exception):
    """A configuration file is missing or wrong; the message names file, key and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Webhook(_Strict):
    """Where a recipient's case system takes referrals by signed HTTP POST."""
    url: HttpUrl
    # Names of the environment variables holding the signing secrets (two while rotating):
    # secrets stay out of the configuration files, which are in version control.
    secret_env: list[str] = Field(min_length=1, max_length=2)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    retry_hours: float = Field(default=24.0, gt=0, le=24 * 14)

    @field_validator("url")
    @classmethod
    def _https_off_loopback(cls, url: HttpUrl) -> HttpUrl:
        """Referrals carry personal data: plain http only to this machine (tests, demo)."""
        if url.scheme != "https" and not _is_loopback(url.host or ""):
            raise ValueError("must be https (plain http only to 127.0.0.1 or localhost)")
        return url

    @field_validator("secret_env")
    @classmethod
    def _variable_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.isidentifier() or not name.isupper():
                raise ValueError(f"'{name}' is not an environment variable name (A-Z, 0-9, _)")
        return names

    @property
    def retry_for(self) -> timedelta:
        return timedelta(hours=self.retry_hours)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class Recipient(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str
    email: EmailStr
    # SHA-256 of the tokens its system uses on the events API (two while rotating).
    api_token_sha256: list[str] = Field(default_factory=list)
    # How its referrals reach it: its own Kafka topic, a webhook, or email to `email`.
    channel: Literal["kafka", "webhook", "email"] = "kafka"
    webhook: Webhook | None = None

    @model_validator(mode="after")
    def _webhook_when_chosen(self) -> Recipient:
        if (self.channel == "webhook") != (self.webhook is not None):
            raise ValueError("give webhook = { url, secret_env } exactly when channel is 'webhook'")
        return self

    @property
    def topic(self) -> str:
        return f"recipient.{self.id}.v1"


class Force(_Strict):
    name: str
    api_key_sha256: list[str] = Field(min_length=1)
    # Victims living outside the partnership (pathways.md, OUT_OF_AREA); without it, refused.
    out_of_area: OutOfArea | None = None


class OutOfArea(_Strict):
    """The force's out-of-area contact, who passes the referral to the victim's home area,
    and the area whose rules decide what it stands for."""
    rules_of: str = Field(pattern=r"^[EWSN]\d{8}$")
    contact: Recipient


class Deadline(_Strict):
    """Exactly one of: N working days, N calendar hours, N calendar days, next school day."""
    working_days: int | None = Field(default=None, ge=1)
    hours: int | None = Field(default=None, ge=1)
    days: int | None = Field(default=None, ge=1)
    next_school_day: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Deadline:
        chosen = [self.working_days, self.hours, self.days, self.next_school_day or None]
        if sum(v is not None for v in chosen) != 1:
            raise ValueError("give exactly one of working_days, hours, days, next_school_day")
        return self


class RiskThresholds(_Strict):
    dash_high: int = Field(default=14, ge=0, le=27)
    dash_medium: int = Field(default=10, ge=0, le=27)
    merit_high_score: int = Field(default=72, ge=0)


class Windows(_Strict):
    escalation_incidents: int = Field(default=3, ge=2)
    escalation_days: int = Field(default=365, ge=1)
    repeat_marac_days: int = Field(default=365, ge=1)
    older_victim_age: int = Field(default=65, ge=18)
    serial_perpetrator_victims: int = Field(default=2, ge=2)
    serial_perpetrator_years: int = Field(default=3, ge=1)
    matac_once_in_months: int = Field(default=12, ge=1)

    @property
    def longest_days(self) -> int:
        """How far back any rule looks: history older than this can be forgotten."""
        return max(self.escalation_days, self.repeat_marac_days,
                   366 * self.serial_perpetrator_years, 31 * self.matac_once_in_months)


class Term(_Strict):
    """A school term, first and last day inclusive."""
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Area(_Strict):
    gss_code: str = Field(pattern=r"^[EWSN]\d{8}$")
    name: str
    force: str
    marac_criteria: list[MaracCriterion] = Field(min_length=1)
    working_day_starts: time = time(9, 0)
    school_day_starts: time = time(9, 0)
    protective_notice_hours: int = Field(default=24, ge=1)
    # What a school's Key Adult is asked to do, in every Operation Encompass notification.
    encompass_guidance: str = (
        "Be available to the child today and keep the day as normal as you can. Do not ask the "
        "child about the incident; if they talk, listen and follow your safeguarding policy. "
        "Tell your Designated Safeguarding Lead. This information is confidential: share it "
        "only with staff who need it to support the child.")
    # Optional: with terms, Encompass counts only term days as school days.
    term_dates: list[Term] = Field(default_factory=list)
    risk: RiskThresholds = RiskThresholds()
    windows: Windows = Windows()
    deadlines: dict[Pathway, Deadline]
    recipients: dict[RecipientRole, Recipient]

    @model_validator(mode="after")
    def _complete(self) -> Area:
        missing_deadlines = set(Pathway.__args__) - set(self.deadlines)
        missing_recipients = set(RecipientRole.__args__) - set(self.recipients)
        if missing_deadlines:
            raise ValueError(f"deadlines missing for {sorted(missing_deadlines)}")
        if missing_recipients:
            raise ValueError(f"recipients missing for {sorted(missing_recipients)}")
        return self


class EducationSetting(_Strict):
    urn: str = Field(pattern=r"^\d{6,7}$")
    name: str
    local_authority: str
    key_adult_email: EmailStr

    @property
    def recipient_id(self) -> str:
        return f"setting-{self.urn}"


class HubConfig(_Strict):
    version: str
    forces: dict[str, Force]
    areas: dict[str, Area]
    education_settings: dict[str, EducationSetting]
    area_files: dict[str, Path]  # gss_code -> the file it came from, for error messages

    def agencies(self) -> Iterator[Recipient]:
        """Every agency any area names (one shared by several areas comes once per area),
        and each force's out-of-area contact."""
        yield from (recipient for area in self.areas.values() for recipient in area.recipients.values())
        yield from (force.out_of_area.contact for force in self.forces.values() if force.out_of_area)

    def rules_area(self, local_authority: str, force: str) -> Area:
        """The area whose rules decide an incident: the victim's, or for a victim living
        outside the partnership the one the force's out-of-area configuration names."""
        area = self.areas.get(local_authority)
        return area if area else self.areas[self.forces[force].out_of_area.rules_of]

    def is_out_of_area(self, local_authority: str) -> bool:
        return local_authority not in self.areas

    def agency(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.agencies() if r.id == recipient_id), None)

    def topic_for(self, recipient_id: str) -> str:
        """Agencies have a topic each; schools share one (and get email besides)."""
        agency = self.agency(recipient_id)
        return agency.topic if agency else EDUCATION_SETTINGS_TOPIC

    def recipient_topics(self) -> list[str]:
        """The topics of Kafka-channel agencies (and escalation contacts, whose overdue
        notices always go to their topic) and the schools' shared topic."""
        return sorted({r.topic for area in self.areas.values()
                       for role, r in area.recipients.items()
                       if r.channel == "kafka" or role == "ESCALATION"}
                      | {f.out_of_area.contact.topic for f in self.forces.values()
                         if f.out_of_area and f.out_of_area.contact.channel == "kafka"}
                      | {EDUCATION_SETTINGS_TOPIC})

    def webhook_secrets(self, environment: dict[str, str]) -> dict[str, list[bytes]]:
        """recipient id -> its signing secrets, read from the variables its webhook names.
        A variable that is unset or empty stops the start, named with file and key."""
        secrets: dict[str, list[bytes]] = {}
        for gss_code, area in self.areas.items():
            for role, recipient in area.recipients.items():
                if recipient.webhook is None:
                    continue
                for name in recipient.webhook.secret_env:
                    if not environment.get(name):
                        raise ConfigError(f"{self.area_files[gss_code]}: recipients.{role}.webhook."
                                          f"secret_env: environment variable {name} is not set")
                secrets[recipient.id] = [environment[n].encode() for n in recipient.webhook.secret_env]
        return secrets

    def recipient_for_token(self, token: str) -> Recipient | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return next((r for r in self.agencies() if digest in r.api_token_sha256), None)

    def may_report_on(self, recipient: Recipient, referral: dict) -> bool:
        """A recipient reports on its own referrals; an area's Encompass coordinator (its
        ENCOMPASS_FALLBACK) also records acknowledgements for the area's schools."""
        if referral["recipient"] == recipient.id:
            return True
        coordinator = self.areas[referral["area"]].recipients["ENCOMPASS_FALLBACK"]
        return referral["pathway"] == "ENCOMPASS" and recipient.id == coordinator.id

    def force_for_api_key(self, api_key: str) -> str | None:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        for force_id, force in self.forces.items():
            if digest in force.api_key_sha256:
                return force_id
        return None


def _parse(model: type[BaseModel], path: Path, data: dict, prefix: str = "") -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(
            f"{path}: {prefix}{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
            for e in exc.errors())) from None


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _read_settings(path: Path) -> dict[str, EducationSetting]:
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    settings = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            setting = _parse(EducationSetting, path, row, prefix=f"line {line}: ")
            if setting.urn in settings:
                raise ConfigError(f"{path}: line {line}: urn: {setting.urn} is listed twice")
            settings[setting.urn] = setting
    return settings


def _version(files: list[Path]) -> str:
    """Content hash of every file read: recorded on each referral it produced."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "sha256:" + digest.hexdigest()[:16]


def load_config(config_dir: Path) -> HubConfig:
    hub_path = config_dir / "hub.toml"
    hub = _read_toml(hub_path)
    forces = {name: _parse(Force, hub_path, raw, prefix=f"forces.{name}.")
              for name, raw in hub.get("forces", {}).items()}
    if not forces:
        raise ConfigError(f"{hub_path}: forces: at least one force is required")
    area_paths = sorted((config_dir / "areas").glob("*.toml"))
    if not area_paths:
        raise ConfigError(f"{config_dir / 'areas'}: no area files (*.toml)")
    areas: dict[str, Area] = {}
    area_files: dict[str, Path] = {}
    for path in area_paths:
        area = _parse(Area, path, _read_toml(path))
        if area.force not in forces:
            raise ConfigError(f"{path}: force: '{area.force}' is not a force in {hub_path}")
        if area.gss_code in areas:
            raise ConfigError(f"{path}: gss_code: {area.gss_code} is already configured")
        areas[area.gss_code] = area
        area_files[area.gss_code] = path
    settings_path = config_dir / "education-settings.csv"
    settings = _read_settings(settings_path)
    config = HubConfig(version=_version([hub_path, *area_paths, settings_path]),
                       forces=forces, areas=areas, education_settings=settings,
                       area_files=area_files)
    _check_unique_recipient_ids(config)
    _check_out_of_area(config, hub_path)
    return config


def _check_out_of_area(config: HubConfig, hub_path: Path) -> None:
    """Checked at start-up: an out-of-area victim must never meet an area that is not there."""
    for name, force in config.forces.items():
        if force.out_of_area and force.out_of_area.rules_of not in config.areas:
            raise ConfigError(f"{hub_path}: forces.{name}.out_of_area.rules_of: "
                              f"{force.out_of_area.rules_of} is not a configured area")


def _check_unique_recipient_ids(config: HubConfig) -> None:
    """A recipient shared by areas (a force-wide MATAC) must be written the same in each."""
    first_seen: dict[str, tuple[Path, Recipient]] = {}
    for gss_code, area in config.areas.items():
        for role, recipient in area.recipients.items():
            path, seen = first_seen.setdefault(recipient.id, (config.area_files[gss_code], recipient))
            if seen != recipient:
                raise ConfigError(f"{config.area_files[gss_code]}: recipients.{role}.id: '{recipient.id}' "
                                  f"is configured differently in {path.name}: one recipient, one entry")
