"""Turn a notification's raw bytes into an Incident, or refuse it with field-level problems.

The same function serves the HTTP API, the raw input topic and `referral-hub route`, so a
notification is treated the same wherever it arrives. Safety first (spec: "What the hub
must do with a bad notification"): only what cannot be routed is refused; anything else
that is wrong is a *data problem*, repaired or dropped, listed on the accepted incident
(`Incident.data_problems`) and routed on what is valid. Problems name the field and what
is wrong with it, never the value: the value may be personal data.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from referral_hub.config import HubConfig
from referral_hub.core.incident import (UK, DataProblem, Incident, LocationType, ProtectiveNotice, Setting,
                                        age_on)
from referral_hub.core.incident import Flag, Gender, Grade

LATEST_REPORT = timedelta(hours=1)  # reported_at may be this far after the hub receives it
SCHOOL_SETTINGS = ("school", "college", "early_years")
URN = re.compile(r"^(?:[0-9]{6,7}|[A-Z]{2}[0-9]{6})$")
PERSON_ID = re.compile(r"^.{1,64}$", re.DOTALL)
FULL_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
OUTWARD_CODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Fields without which a notification cannot be routed: a problem here refuses it whole.
REFUSING = ("(body)", "schema_version", "incident_id", "force", "version", "status",
            "withdrawal_reason", "reported_at", "local_authority", "victim", "victim.person_id",
            "victim.date_of_birth", "risk")
RISK_RESULT = ("risk.tool", "risk.dash_yes_count", "risk.merit_score", "risk.merit_grade")
# Required fields that are not refusing: a bad value is replaced by the safe default.
SAFE_DEFAULTS = {"victim.given_name": "(not given)", "victim.family_name": "(not given)",
                 "victim.gender": "unknown", "victim.contact": {"safe_to_contact": False},
                 "victim.contact.safe_to_contact": False, "consent_to_share": False,
                 "risk.tool": "NONE", "risk.professional_judgement": False,
                 "perpetrator.gender": "unknown", "perpetrator.relationship": "other"}
UNKNOWN_VALUES = {"victim.gender": ("unknown", Gender), "perpetrator.gender": ("unknown", Gender),
                  "perpetrator.relationship": ("other", None)}


@dataclass(frozen=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


class Refused(Exception):
    """A notification that cannot be accepted; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def _path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path  # never empty: the body is a JSON object (_json_object), so every error has a field


def field_label(path: str) -> str:
    """A bounded label for a field path: list indexes removed (`children[].education.urn`),
    and a field the contract does not have (its name is the sender's) as `(unknown field)`."""
    label = re.sub(r"\[\d+\]", "[]", path)
    names = [name.removesuffix("[]") for name in label.split(".")]
    known = _field_names(Incident) | {"(body)"}  # at each call, so that mutation testing reaches it
    return label if all(name in known for name in names) else "(unknown field)"


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for info in model.model_fields.values():  # a model, or one inside `X | None`, `list[X]`, `tuple[X, ...]`
        for candidate in [info.annotation, *get_args(info.annotation)]:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names |= _field_names(candidate)
    return names


def is_refusing(path: str, data: dict) -> bool:
    """A problem at `path` refuses the notification: the field itself is needed, or it is
    the risk tool's result and no officer's grade gives a level instead."""
    if path in REFUSING:
        return True
    risk = data.get("risk")
    return path in RISK_RESULT and not (isinstance(risk, dict) and risk.get("officer_grade"))


def parse_incident(raw: bytes | str, config: HubConfig, received_at: datetime | None = None) -> Incident:
    """Validate a notification against the contract and the configuration; raise Refused.

    `received_at` is when the hub received it (offline: when the line was read); reported_at
    may not be more than an hour after it. The incident carries its data problems."""
    data = _json_object(raw)
    salvage = _Salvage(data)
    salvage.run()
    incident = _validated(data, salvage)
    refusals = _refusals(incident, config, received_at)
    if refusals:
        raise Refused(refusals)
    return _with_cross_field_repairs(incident, salvage.problems)


# --- what is not JSON text is refused whole -------------------------------------------

def _json_object(raw: bytes | str) -> dict:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise Refused([Problem("(body)", "Invalid JSON: not UTF-8 text")]) from None
    if problems := _json_text_problems(text):
        raise Refused(problems)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise Refused([Problem("(body)", f"Invalid JSON: {exc.msg} at character {exc.pos}")]) from None
    except ValueError as exc:
        raise Refused([Problem("(body)", f"Invalid JSON: {exc}")]) from None
    except RecursionError:  # deeper than Python's parser goes, yet well under the size limit
        raise Refused([Problem("(body)", "Invalid JSON: nested too deeply")]) from None
    if not isinstance(data, dict):
        raise Refused([Problem("(body)", "Input should be an object")])
    return data


class _Members(list):
    """A JSON object as the parser saw it: its (name, value) pairs, repeats kept."""


def _json_text_problems(raw: str) -> list[Problem]:
    """NUL characters and names given twice in one object. JSON parsers differ on which of
    two values wins, so two systems could read two different incidents from one text; a
    NUL cuts strings short in C-based tools. Malformed JSON is left to the contract's parser."""
    if "\0" in raw:
        return [Problem("(body)", "contains a NUL character")]
    try:
        return _repeats_and_nuls(json.loads(raw, object_pairs_hook=_Members), "")
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the contract allows
        return []


def _repeats_and_nuls(value, path: str) -> list[Problem]:
    if isinstance(value, str):
        return [Problem(path or "(body)", "contains a NUL character (\\u0000)")] if "\0" in value else []
    if isinstance(value, list) and not isinstance(value, _Members):
        return [p for index, item in enumerate(value) for p in _repeats_and_nuls(item, f"{path}[{index}]")]
    if not isinstance(value, _Members):
        return []
    problems, seen = [], set()
    for name, member in value:
        member_path = f"{path}.{name}" if path else name
        if "\0" in name:
            problems.append(Problem(path or "(body)", "has a name with a NUL character (\\u0000)"))
        elif name in seen:
            problems.append(Problem(member_path, "appears more than once in the same object"))
        seen.add(name)
        problems += _repeats_and_nuls(member, member_path)
    return problems


def _no_constant(_name: str):
    raise ValueError("NaN and Infinity are not JSON numbers")


# --- data problems: repaired or dropped before the contract is checked ----------------

VOICE_MAX_CHARACTERS = 2000  # the spec: a longer voice is reported and ignored
NAME_MAX_CHARACTERS = 200  # the contract's (incident._Person)

class _Salvage:
    """Normalises real-world forms and drops what cannot be used, noting each as a problem."""

    def __init__(self, data: dict):
        self.data = data
        self.problems: list[DataProblem] = []

    def note(self, path: str, problem: str, bad_child_entry: bool = False) -> None:
        self.problems.append(DataProblem(path=path, problem=problem, bad_child_entry=bad_child_entry))

    def run(self) -> None:
        data = self.data
        if "data_problems" in data:
            del data["data_problems"]
            self.note("data_problems", "Extra inputs are not permitted")
        victim = data.get("victim")
        if isinstance(victim, dict):
            self.contact(victim)
            self.postcode(victim)
        self.known_values()
        self.risk()
        self.notice()
        self.children()

    def contact(self, victim: dict) -> None:
        contact = victim.get("contact")
        if isinstance(contact, dict):
            self.normalise(contact, "phone", "victim.contact.phone", normalised_phone, "a phone number")
            self.normalise(contact, "email", "victim.contact.email", normalised_email, "an email address")

    def postcode(self, victim: dict) -> None:
        self.normalise(victim, "postcode", "victim.postcode", normalised_postcode, "a UK postcode")

    def normalise(self, parent: dict, name: str, path: str, normalised, what: str) -> None:
        """A contact detail in its normal form; one that cannot be read is dropped and reported."""
        if parent.get(name) is None:
            return
        value = normalised(parent[name])
        if value is None:
            del parent[name]
            self.note(path, f"cannot be read as {what}: not passed on")
        else:
            parent[name] = value

    def known_values(self) -> None:
        """Unknown enumeration values are reported and ignored (spec's list)."""
        for path, (default, allowed) in UNKNOWN_VALUES.items():
            parent, name = _parent(self.data, path)
            if parent is None or name not in parent:
                continue
            values = _choices(allowed) if allowed else ("partner", "ex_partner", "family_member", "other")
            if parent[name] not in values:
                parent[name] = default
                self.note(path, f"is not a known value: taken as {default}")
        flags = self.data.get("flags")
        if isinstance(flags, list):
            known = [flag for flag in flags if flag in _choices(Flag)]
            for index, flag in enumerate(flags):
                if flag not in _choices(Flag):
                    self.note(f"flags[{index}]", "is not a known flag: ignored")
            self.data["flags"] = list(dict.fromkeys(known))
        location = self.data.get("location_type")
        if location is not None and location not in _choices(LocationType):
            del self.data["location_type"]
            self.note("location_type", "is not a known location type: ignored")

    def risk(self) -> None:
        risk = self.data.get("risk")
        if not isinstance(risk, dict):
            return
        grade = risk.get("officer_grade")
        if grade is not None and grade not in _choices(Grade):
            del risk["officer_grade"]
            self.note("risk.officer_grade", "is not a known grade: ignored")
        count = risk.get("dash_yes_count")
        usable = count is None or (type(count) is int and 0 <= count <= 27)
        if not usable and risk.get("officer_grade") is not None:
            # The officer's grade still gives a level: route on it, report the count.
            del risk["dash_yes_count"]
            self.note("risk.dash_yes_count", "is not a DASH result (0-27): the officer's grade is used")

    def notice(self) -> None:
        """A protective notice that cannot be read is ignored (it could only shorten deadlines)."""
        notice = self.data.get("protective_notice")
        if not isinstance(notice, dict):
            return  # null, or not an object: the contract's check reports and drops it
        needed = {name: notice.get(name) for name in ProtectiveNotice.model_fields}
        try:
            ProtectiveNotice.model_validate_json(json.dumps(needed))
        except ValidationError:
            del self.data["protective_notice"]
            self.note("protective_notice", "cannot be read: the notice is ignored")

    def children(self) -> None:
        entries = self.data.get("children")
        if entries is None:
            return
        if not isinstance(entries, list):
            self.data["children"] = []
            self.note("children", "is not a list", bad_child_entry=True)
            return
        reported = _reported_date(self.data.get("reported_at"))
        adults = {_person_id(self.data.get(role)) for role in ("victim", "perpetrator")} - {None}
        kept: dict[str, tuple[dict, dict]] = {}  # person id -> (as sent, as kept)
        self.data["children"] = []
        for index, entry in enumerate(entries):
            child = self.child(f"children[{index}]", entry, reported, adults)
            if child is None:
                continue
            person_id = child["person_id"]
            if person_id in kept:
                self.duplicate(f"children[{index}]", entry, *kept[person_id])
                continue
            kept[person_id] = (entry, child)
            self.data["children"].append(child)

    def duplicate(self, path: str, entry: dict, first: dict, kept: dict) -> None:
        if entry == first:
            self.note(path, "lists a child already listed: notified once")
            return
        kept["data_problem"] = "fallback"
        self.note(path, "lists a child already listed with different details: notified once, "
                        "to the area's Encompass coordinator", bad_child_entry=True)

    def child(self, path: str, entry: Any, reported: date | None, adults: set[str]) -> dict | None:
        """The entry as it can be used, or None when it is no child the hub can notify about."""
        if not isinstance(entry, dict):
            self.note(path, "is not an object", bad_child_entry=True)
            return None
        child, person_id = dict(entry), entry.get("person_id")
        if not (isinstance(person_id, str) and PERSON_ID.fullmatch(person_id)):
            self.note(f"{path}.person_id", "is missing or not a person id", bad_child_entry=True)
            return None
        if person_id in adults:
            self.note(f"{path}.person_id", "is the victim's or the perpetrator's person id: "
                                           "no Encompass notice", bad_child_entry=True)
            return None
        if "data_problem" in child:
            del child["data_problem"]
            self.note(f"{path}.data_problem", "Extra inputs are not permitted")
        born = _date(child.get("date_of_birth"))
        if born is None or (reported and born > reported):
            child.pop("date_of_birth", None)
            child["data_problem"] = "check"
            self.note(f"{path}.date_of_birth", "is missing or impossible: taken as under 18",
                      bad_child_entry=True)
        elif reported and age_on(born, reported) >= 18:
            self.note(f"{path}.date_of_birth", "the person is 18 or over at reported_at: not a "
                                               "child, no Encompass notice", bad_child_entry=True)
            return None
        self.names_and_presence(path, child)
        self.education(path, child)
        for field in ("resides_with", "related_to"):
            self.adults(path, child, field)
        self.voice(path, child)
        return child

    def names_and_presence(self, path: str, child: dict) -> None:
        """A name or `present` that cannot be read: the child is still notified (as present,
        so that the school hears of it), and the MASH checks the entry."""
        for field in ("given_name", "family_name"):
            name = child.get(field)
            if not (isinstance(name, str) and 1 <= len(name) <= NAME_MAX_CHARACTERS):
                child[field], child["data_problem"] = "(not given)", "check"
                self.note(f"{path}.{field}", "is missing or not a name: taken as \"(not given)\"",
                          bad_child_entry=True)
        if not isinstance(child.get("present"), bool):
            child["present"], child["data_problem"] = True, "check"
            self.note(f"{path}.present", "is missing or not true or false: taken as present",
                      bad_child_entry=True)

    def education(self, path: str, child: dict) -> None:
        education = child.get("education")
        if not isinstance(education, dict) or education.get("setting") not in _choices(Setting) \
                or set(education) - {"setting", "urn"}:
            child["education"] = {"setting": "unknown"}
            child["data_problem"] = "fallback"
            self.note(f"{path}.education", "cannot be read: the notice goes to the area's "
                                           "Encompass coordinator", bad_child_entry=True)
            return
        education = child["education"] = dict(education)
        urn = education.get("urn")
        urn = urn.strip().upper() if isinstance(urn, str) else urn
        if urn is not None and not (isinstance(urn, str) and URN.match(urn)):
            self.note(f"{path}.education.urn", "is in neither URN form (6 or 7 digits, or two "
                                               "letters and 6 digits): taken as not in the directory")
            urn = None
        elif urn is None and education["setting"] in SCHOOL_SETTINGS:
            self.note(f"{path}.education.urn", "is missing: taken as not in the directory")
        education["urn"] = urn

    def adults(self, path: str, child: dict, field: str) -> None:
        """resides_with, or related_to (second edition, optional): the adults it names."""
        adults = child.get(field)
        if not isinstance(adults, list):
            if adults is not None:
                self.note(f"{path}.{field}", "is not a list: ignored")
            child[field] = []
            return
        known = [a for a in dict.fromkeys(a for a in adults if isinstance(a, str))
                 if a in ("victim", "perpetrator")]
        if len(known) != len(adults):
            self.note(f"{path}.{field}", "lists an unknown or repeated adult: ignored")
        child[field] = known

    def voice(self, path: str, child: dict) -> None:
        voice = child.get("voice")
        if voice is not None and not (isinstance(voice, str) and len(voice) <= VOICE_MAX_CHARACTERS):
            del child["voice"]
            self.note(f"{path}.voice", f"is not text of at most {VOICE_MAX_CHARACTERS} characters: "
                                       "not passed to the school")


def normalised_phone(value: Any) -> str | None:
    """E.164 for a phone number in a common UK form; None when it cannot be read."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("(0)", "")
    if not re.fullmatch(r"\+?[0-9 ()\-.]+", text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith("0"):
        international = "44" + digits[1:]
    else:
        return None
    if international.startswith("44"):
        return "+" + international if len(international) - 2 in (9, 10) else None
    return "+" + international if 8 <= len(international) <= 15 else None


def normalised_email(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) > 254 or not EMAIL.match(value.strip()):
        return None
    return value.strip()


def normalised_postcode(value: Any) -> str | None:
    """Upper case with one space; an outward code alone is kept as given; None if unreadable."""
    if not isinstance(value, str):
        return None
    compact = re.sub(r"\s+", "", value).upper()
    full = re.fullmatch(r"([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})", compact)
    if full:
        return f"{full.group(1)} {full.group(2)}"
    return value.strip() if OUTWARD_CODE.match(compact) else None


def _choices(literal) -> tuple:
    return literal.__args__


def _parent(data: dict, path: str) -> tuple[dict | None, str]:
    *parents, name = path.split(".")
    target = data
    for part in parents:
        target = target.get(part) if isinstance(target, dict) else None
    return (target if isinstance(target, dict) else None), name


def _person_id(person: Any) -> str | None:
    person_id = person.get("person_id") if isinstance(person, dict) else None
    return person_id if isinstance(person_id, str) else None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _reported_date(value: Any) -> date | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment.astimezone(UK).date() if moment and moment.tzinfo else None


# --- the contract: refuse what cannot be routed, drop what can be done without --------

def _validated(data: dict, salvage: _Salvage) -> Incident:
    """Check the contract; repair each non-refusing field (default or drop) and check again."""
    repaired: set[str] = set()
    while True:
        try:
            return Incident.model_validate_json(json.dumps(data))
        except ValidationError as exc:
            errors = [(e["loc"], _path(e["loc"]), e["msg"]) for e in exc.errors()]
        refusals = [Problem(path, msg) for _, path, msg in errors
                    if is_refusing(path, data) or path in repaired]
        if refusals:
            raise Refused(refusals) from None
        for loc, path, msg in errors:
            _repair(data, loc, path)
            repaired.add(path)
            salvage.note(path, msg + ": " + ("taken as " + json.dumps(SAFE_DEFAULTS[field_label(path)])
                                             if field_label(path) in SAFE_DEFAULTS else "ignored"))


def _repair(data: dict, loc: tuple, path: str) -> None:
    *parents, last = loc
    target = data
    for part in parents:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return  # gone with an earlier repair of this round (its parent was dropped)
    label = field_label(path)
    if label in SAFE_DEFAULTS:
        target[last] = SAFE_DEFAULTS[label]
    elif label.startswith("perpetrator.person_id"):
        del data["perpetrator"]  # no usable id: as if the perpetrator were unknown
    else:  # a field sent with a bad value (never missing: each required field refuses, has a
        # safe default or is salvaged first; never a list item: salvage drops bad items first)
        del target[last]


def _refusals(incident: Incident, config: HubConfig, received_at: datetime | None) -> list[Problem]:
    problems = []
    if received_at and incident.reported_at > received_at + LATEST_REPORT:
        problems.append(Problem("reported_at", "is more than 1 hour after the hub received it"))
    if incident.victim.date_of_birth > incident.reported_date:
        problems.append(Problem("victim.date_of_birth", "is after reported_at"))
    problems += _risk_problems(incident)
    if incident.perpetrator and incident.perpetrator.person_id == incident.victim.person_id:
        problems.append(Problem("perpetrator.person_id", "is the victim's person id"))
    if incident.status == "withdrawn" and incident.withdrawal_reason is None:
        problems.append(Problem("withdrawal_reason", "is required when status is withdrawn"))
    return problems + _configuration_problems(incident, config)


def _risk_problems(incident: Incident) -> list[Problem]:
    """A risk block from which no level can be worked out refuses the notification."""
    risk = incident.risk
    if risk.officer_grade is not None:
        return []
    if risk.tool == "DASH" and risk.dash_yes_count is None:
        return [Problem("risk.dash_yes_count", "is required when risk.tool is DASH")]
    if risk.tool == "MERIT" and risk.merit_grade is None and risk.merit_score is None:
        return [Problem("risk.merit_grade", "merit_grade or merit_score is required when risk.tool is MERIT")]
    if risk.tool in ("DARA", "NONE"):
        return [Problem("risk.officer_grade", f"is required when risk.tool is {risk.tool}")]
    return []


def _configuration_problems(incident: Incident, config: HubConfig) -> list[Problem]:
    problems = []
    if incident.force not in config.forces:
        problems.append(Problem("force", "is not a configured police force"))
    if incident.local_authority not in config.areas and incident.force in config.forces \
            and config.forces[incident.force].out_of_area is None:
        problems.append(Problem("local_authority", "is not an area this hub serves, and the "
                                                   "force has no out-of-area contact"))
    return problems


def _with_cross_field_repairs(incident: Incident, problems: list[DataProblem]) -> Incident:
    """Facts that contradict others are dropped and reported; the rest is routed."""
    changes: dict[str, Any] = {}
    problems = list(problems)
    if incident.occurred_at and incident.occurred_at > incident.reported_at:
        changes["occurred_at"] = None
        problems.append(DataProblem(path="occurred_at", problem="is after reported_at: ignored"))
    perpetrator = incident.perpetrator
    if perpetrator and perpetrator.date_of_birth and perpetrator.date_of_birth > incident.reported_date:
        changes["perpetrator"] = perpetrator.model_copy(update={"date_of_birth": None})
        problems.append(DataProblem(path="perpetrator.date_of_birth", problem="is after reported_at: ignored"))
    notice = incident.protective_notice
    if notice and notice.expires_at <= notice.issued_at:
        changes["protective_notice"] = None
        problems.append(DataProblem(path="protective_notice.expires_at",
                                    problem="is not after issued_at: the notice is ignored"))
    return incident.model_copy(update=changes | {"data_problems": tuple(problems)})
