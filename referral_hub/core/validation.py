"""Turn a notification's raw bytes into an Incident, or into field-level problems.

The same function serves the HTTP API, the raw input topic and `referral-hub route`,
so a notification is refused for the same reasons wherever it arrives. Problems name
the field and what is wrong with it, never the value: the value may be personal data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from referral_hub.config import HubConfig
from referral_hub.core.incident import Incident, age_on


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
    return path or "(body)"


def parse_incident(raw: bytes | str, config: HubConfig) -> Incident:
    """Validate a notification against the contract and the configuration; raise Refused."""
    if problems := _json_text_problems(raw):
        raise Refused(problems)
    try:
        incident = Incident.model_validate_json(raw)
    except ValidationError as exc:
        raise Refused([Problem(_path(e["loc"]), e["msg"]) for e in exc.errors()]) from None
    problems = _contract_problems(incident) + _configuration_problems(incident, config)
    if problems:
        raise Refused(problems)
    return incident


class _Members(list):
    """A JSON object as the parser saw it: its (name, value) pairs, repeats kept."""


def _json_text_problems(raw: bytes | str) -> list[Problem]:
    """NUL characters and names given twice in one object. JSON parsers differ on which of
    two values wins, so two systems could read two different incidents from one text; a
    NUL cuts strings short in C-based tools. Malformed JSON is left to the contract's parser."""
    if (b"\0" if isinstance(raw, bytes) else "\0") in raw:
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


def _contract_problems(incident: Incident) -> list[Problem]:
    """Rules of the contract that involve more than one field."""
    problems = []
    reported = incident.reported_date
    if incident.occurred_at and incident.occurred_at > incident.reported_at:
        problems.append(Problem("occurred_at", "is after reported_at"))
    if incident.victim.date_of_birth > reported:
        problems.append(Problem("victim.date_of_birth", "is after reported_at"))
    if incident.perpetrator and incident.perpetrator.date_of_birth \
            and incident.perpetrator.date_of_birth > reported:
        problems.append(Problem("perpetrator.date_of_birth", "is after reported_at"))
    problems += _risk_problems(incident)
    notice = incident.protective_notice
    if notice and notice.expires_at <= notice.issued_at:
        problems.append(Problem("protective_notice.expires_at", "is not after issued_at"))
    for index, child in enumerate(incident.children):
        path = f"children[{index}]"
        if child.date_of_birth > reported:
            problems.append(Problem(f"{path}.date_of_birth", "is after reported_at"))
        elif age_on(child.date_of_birth, reported) >= 18:
            problems.append(Problem(f"{path}.date_of_birth",
                                    "the child is 18 or over at reported_at; children are under 18"))
        for field in ("resides_with", "related_to"):
            adults = getattr(child, field)
            if len(set(adults)) != len(adults):
                problems.append(Problem(f"{path}.{field}", "lists the same adult twice"))
    if len({c.person_id for c in incident.children}) != len(incident.children):
        problems.append(Problem("children", "the same person_id appears twice"))
    return problems


def _risk_problems(incident: Incident) -> list[Problem]:
    risk = incident.risk
    if risk.tool == "DASH" and risk.dash_yes_count is None:
        return [Problem("risk.dash_yes_count", "is required when risk.tool is DASH")]
    if risk.tool == "MERIT" and risk.merit_grade is None and risk.merit_score is None:
        return [Problem("risk.merit_grade", "merit_grade or merit_score is required when risk.tool is MERIT")]
    if risk.tool in ("DARA", "NONE") and risk.officer_grade is None:
        return [Problem("risk.officer_grade", f"is required when risk.tool is {risk.tool}")]
    return []


def _configuration_problems(incident: Incident, config: HubConfig) -> list[Problem]:
    problems = []
    if incident.force not in config.forces:
        problems.append(Problem("force", "is not a configured police force"))
    if incident.local_authority not in config.areas:
        problems.append(Problem("local_authority", "is not an area this hub serves"))
    return problems
