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
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from referral_hub.core.incident import Flag

Pathway = Literal["MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE", "ADULT_SAFEGUARDING",
                  "ENCOMPASS", "MASH_IDVA", "MATAC", "SPECIALIST", "OUT_OF_AREA"]
MaracCriterion = Literal["visible_high_risk", "professional_judgement",
                         "potential_escalation", "repeat_marac"]
# Agency roles an area names a recipient for. Education settings come from the directory.
# ESCALATION is told when a referral in the area passes its deadline without contact.
# MATAC is the only role an area may leave out: not every area has one.
RecipientRole = Literal["MARAC", "IDVA", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE",
                        "ADULT_SAFEGUARDING", "MASH_IDVA", "MATAC",
                        "ENCOMPASS_FALLBACK", "HOME_EDUCATION", "ESCALATION"]
OPTIONAL_ROLES = frozenset({"MATAC"})
# Deadlines of the second edition's pathways: an area file written for the first edition
# still loads, with the spec's defaults.
DEFAULT_DEADLINES = {"SPECIALIST": {"working_days": 2}, "OUT_OF_AREA": {"working_days": 1}}
EDUCATION_SETTINGS_TOPIC = "recipient.education-settings.v1"


class ConfigError(Exception):
    """A configuration file is missing or wrong; the message names file, key and problem."""


def _sha256_hex(value: str) -> str:
    """Keys and tokens are checked against hashlib's hexdigest: anything else never matches."""
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("must be a SHA-256 digest: 64 hex digits, lower case "
                         "(printf %s KEY | sha256sum)")
    return value


Sha256Hex = Annotated[str, AfterValidator(_sha256_hex)]


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
    api_token_sha256: list[Sha256Hex] = Field(default_factory=list)
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


class SpecialistService(Recipient):
    """A service for victims with a particular need (honour-based abuse, stalking, no
    recourse to public funds): the victim flags that send a SPECIALIST referral to it."""
    flags: list[Flag] = Field(min_length=1)


class Force(_Strict):
    name: str
    api_key_sha256: list[Sha256Hex] = Field(min_length=1)
    # Victims living outside the partnership (pathways.md, OUT_OF_AREA); without it, refused.
    out_of_area: OutOfArea | None = None


class OutOfArea(_Strict):
    """The force's out-of-area contact, who passes the referral to the victim's home area,
    and the area whose rules decide what it stands for."""
    rules_of: str = Field(pattern=r"^(?:E0[6789]|W06)[0-9]{6}$")
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
    # name -> service; each names the victim flags it takes (one service per flag).
    specialist_services: dict[str, SpecialistService] = Field(default_factory=dict)

    @field_validator("deadlines", mode="before")
    @classmethod
    def _second_edition_defaults(cls, deadlines: object) -> object:
        return DEFAULT_DEADLINES | deadlines if isinstance(deadlines, dict) else deadlines

    @model_validator(mode="after")
    def _complete(self) -> Area:
        optional = OPTIONAL_ROLES - set(self.recipients)  # a pathway left out entirely
        missing_deadlines = set(get_args(Pathway)) - set(self.deadlines) - optional
        missing_recipients = set(get_args(RecipientRole)) - set(self.recipients) - OPTIONAL_ROLES
        if missing_deadlines:
            raise ValueError(f"deadlines missing for {sorted(missing_deadlines)}")
        if missing_recipients:
            raise ValueError(f"recipients missing for {sorted(missing_recipients)}")
        return self

    @property
    def has_matac(self) -> bool:
        return "MATAC" in self.recipients

    def specialists_for(self, flags: list[str]) -> list[tuple[SpecialistService, list[str]]]:
        """Each service the victim's flags name, with the flags that named it, in file order."""
        return [(service, named) for service in self.specialist_services.values()
                if (named := [f for f in flags if f in service.flags])]

    def named_recipients(self) -> Iterator[tuple[str, Recipient]]:
        """(configuration key, recipient) for every agency this area names."""
        yield from ((f"recipients.{role}", r) for role, r in self.recipients.items())
        yield from ((f"specialist_services.{name}", s) for name, s in self.specialist_services.items())


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
        yield from (recipient for area in self.areas.values() for _, recipient in area.named_recipients())
        yield from (force.out_of_area.contact for force in self.forces.values() if force.out_of_area)

    @property
    def longest_window_days(self) -> int:
        """How far back any area's rules look: history older than this is never read."""
        return max(area.windows.longest_days for area in self.areas.values())

    def rules_area(self, local_authority: str, force: str) -> Area:
        """The area whose rules decide an incident: the victim's, or for a victim living
        outside the partnership the one the force's out-of-area configuration names."""
        area = self.areas.get(local_authority)
        return area if area else self.areas[self.forces[force].out_of_area.rules_of]

    def is_out_of_area(self, local_authority: str) -> bool:
        return local_authority not in self.areas

    def agency(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.agencies() if r.id == recipient_id), None)

    def recipient_name(self, recipient_id: str) -> str:
        """An agency's or a school's name, as people know it ('Example Park Primary School',
        not setting-104808); the id itself if neither knows it."""
        if agency := self.agency(recipient_id):
            return agency.name
        setting = self.education_settings.get(recipient_id.removeprefix("setting-"))
        return setting.name if setting else recipient_id

    def topic_for(self, recipient_id: str) -> str:
        """Agencies have a topic each; schools share one (and get email besides)."""
        agency = self.agency(recipient_id)
        return agency.topic if agency else EDUCATION_SETTINGS_TOPIC

    def recipient_topics(self) -> list[str]:
        """The topics of Kafka-channel agencies (and escalation contacts, whose overdue
        notices always go to their topic) and the schools' shared topic."""
        return sorted({r.topic for area in self.areas.values()
                       for key, r in area.named_recipients()
                       if r.channel == "kafka" or key == "recipients.ESCALATION"}
                       | {f.out_of_area.contact.topic for f in self.forces.values()
                          if f.out_of_area and f.out_of_area.contact.channel == "kafka"}
                      | {EDUCATION_SETTINGS_TOPIC})

    def webhook_secrets(self, environment: dict[str, str]) -> dict[str, list[bytes]]:
        """recipient id -> its signing secrets, read from the variables its webhook names.
        A variable that is unset or empty stops the start, named with file and key."""
        secrets: dict[str, list[bytes]] = {}
        for gss_code, area in self.areas.items():
            for key, recipient in area.named_recipients():
                if recipient.webhook is None:
                    continue
                for name in recipient.webhook.secret_env:
                    if not environment.get(name):
                        raise ConfigError(f"{self.area_files[gss_code]}: {key}.webhook."
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


def _read_settings(path: Path, area_files: dict[str, Path]) -> dict[str, EducationSetting]:
    """The directory; each setting's local authority must be a configured area, or its
    children's notifications would have no deadlines, coordinator or escalation contact."""
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    settings = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            setting = _parse(EducationSetting, path, row, prefix=f"line {line}: ")
            if setting.urn in settings:
                raise ConfigError(f"{path}: line {line}: urn: {setting.urn} is listed twice")
            if setting.local_authority not in area_files:
                raise ConfigError(f"{path}: line {line}: local_authority: '{setting.local_authority}' "
                                  f"is not the gss_code of an area in {path.parent / 'areas'}")
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
            raise ConfigError(f"{path}: gss_code: {area.gss_code} is already configured "
                              f"in {area_files[area.gss_code]}")
        _check_pathways_have_recipients(area, path)
        areas[area.gss_code] = area
        area_files[area.gss_code] = path
    settings_path = config_dir / "education-settings.csv"
    settings = _read_settings(settings_path, area_files)
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
        for key, recipient in area.named_recipients():
            path, seen = first_seen.setdefault(recipient.id, (config.area_files[gss_code], recipient))
            if seen != recipient:
                raise ConfigError(f"{config.area_files[gss_code]}: {key}.id: '{recipient.id}' "
                                  f"is configured differently in {path.name}: one recipient, one entry")


def _check_pathways_have_recipients(area: Area, path: Path) -> None:
    """A deadline for a pathway nobody receives is a mistake (MATAC written for an area
    without one), and a flag sent to two services would refer the victim twice for it."""
    if "MATAC" in area.deadlines and not area.has_matac:
        raise ConfigError(f"{path}: deadlines.MATAC: the area names no MATAC recipient; "
                          "name one under recipients, or leave MATAC out")
    services_by_flag: dict[str, str] = {}
    for name, service in area.specialist_services.items():
        for flag in service.flags:
            other = services_by_flag.setdefault(flag, name)
            if other != name:
                raise ConfigError(f"{path}: specialist_services.{name}.flags: {flag} is already "
                                  f"sent to specialist_services.{other}: one service per flag")
