"""The email to an agency with no system integration, carrying its referral record.

MARAC, IDVA, community advocacy, the young people's service, MASH and adult safeguarding
teams, MATAC: ``render_agency_email(record_type, record, ...)`` builds the message from the
record the hub produces for that recipient (schemas/avro/recipient-*.avsc). Those types are
already minimised per recipient (schemas/avro/DISCLOSURE.md), so the email shows every
field of the record. It walks the record type's schema, not the dict, so a key the schema
does not hold cannot reach an email, and fields come in the schema's order:
victim_safe_to_contact first, as a banner.

Schools have their own email (encompass_email.py), whose formatting, templates
environment and SMTP sending this module shares. The subject names no person (lock-screen
previews). The Message-ID is derived from the referral id. Errors name fields, never their
values.
"""
from __future__ import annotations

import hashlib

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache

from referral_hub.settings import SCHEMA_DIR

from .encompass_email import (
    EmailNotSent,
    SmtpSettings,
    _date_of_birth,
    _environment,
    message_id,
    send,
    uk_day,
    uk_day_time,
    uk_time_on_day,
)

__all__ = ["EmailNotSent", "SmtpSettings", "render_agency_email", "send", "subject"]

SCHEMAS = SCHEMA_DIR
RECORD_TYPES = ("recipient-risk", "recipient-support", "recipient-safeguarding",
                "recipient-matac")
SAFE_TO_CONTACT = "victim_safe_to_contact"
NOT_GIVEN = "not given"
# Labels as they read mid-sentence, where replacing underscores is not enough.
LABELS = {"referral_id": "referral ID", "person_id": "person ID", "urn": "URN",
          "due_at": "contact due by", "dash_yes_count": "DASH yes answers",
          "merit_score": "MERIT score", "merit_grade": "MERIT grade", "resides_with": "lives with"}
PATHWAYS = {"COMMUNITY_ADVOCACY": "community advocacy", "YOUNG_PEOPLE": "young people's",
            "ADULT_SAFEGUARDING": "adult safeguarding", "MASH_IDVA": "MASH IDVA"}
EXPECTED = {"boolean": "true or false", "string": "text", "int": "a whole number",
            "long": "a whole number", "array": "a list", "record": "a record"}
NESTED = " — "  # between a record's label and its field's: "Victim — given name"

Row = tuple[str, list[str]]  # a label and the value's lines


@cache
def _schema(record_type: str) -> dict:
    if record_type not in RECORD_TYPES:
        raise ValueError(f"record_type must be one of {', '.join(RECORD_TYPES)}")
    return json.loads((SCHEMAS / f"{record_type}.avsc").read_text(encoding="utf-8"))


def _capitalised(label: str) -> str:
    return label[:1].upper() + label[1:]


def _is(avro_type: object, kind: str) -> bool:
    return isinstance(avro_type, dict) and avro_type.get("type") == kind


def _scalar(avro_type: object, value: object, field: str) -> str:
    """One value as text, checked against its Avro type."""
    base = avro_type["type"] if isinstance(avro_type, dict) else avro_type
    logical = avro_type.get("logicalType") if isinstance(avro_type, dict) else None
    if logical in ("timestamp-micros", "timestamp-millis"):
        return uk_day_time(value, field)
    if logical == "date":
        return _date_of_birth(value, field)
    if base == "boolean" and isinstance(value, bool):
        return "Yes" if value else "No"
    if base in ("int", "long") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if base == "string" and isinstance(value, str):
        return value
    raise ValueError(f"{field} must be {EXPECTED.get(base, base)}")


def _field_rows(field: dict, record: dict, path: str, label: str) -> list[Row]:
    """The rows one field makes: a nested record's or list item's fields labelled under it."""
    avro_type, optional = field["type"], False
    if isinstance(avro_type, list):  # ["null", X]: an optional X
        [avro_type] = [t for t in avro_type if t != "null"]
        optional = True
    value = record.get(field["name"])
    if value is None:
        if not optional:
            raise ValueError(f"the record has no {path}")
        return [(label, [NOT_GIVEN])]
    if _is(avro_type, "record") and isinstance(value, dict):
        return _rows(avro_type, value, path + ".", label + NESTED)
    if _is(avro_type, "array") and isinstance(value, list):
        items = avro_type["items"]
        if not value:
            return [(label, ["none"])]
        if _is(items, "record"):  # each item a field of its own, named "Child 1" after its type
            return [row for n, item in enumerate(value)
                    for row in _field_rows({"name": n, "type": items}, {n: item},
                                           f"{path}[{n}]", f"{items['name']} {n + 1}")]
        return [(label, [_scalar(items, item, f"{path}[{n}]") for n, item in enumerate(value)])]
    return [(label, [_scalar(avro_type, value, path)])]


def _rows(schema: dict, record: dict, path: str = "", prefix: str = "") -> list[Row]:
    return [row for field in schema["fields"] if field["name"] != SAFE_TO_CONTACT
            for row in _field_rows(field, record, path + field["name"],
                                   prefix + LABELS.get(field["name"], field["name"].replace("_", " ")))]


def _sections(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """The referral's own fields first, then a section for each record in it (a person, the risk)."""
    sections: dict[str, list[Row]] = {"Referral": []}
    for label, values in rows:
        title, _, rest = label.partition(NESTED)
        if rest:
            sections.setdefault(_capitalised(title), []).append((_capitalised(rest), values))
        else:
            sections["Referral"].append((_capitalised(label), values))
    return list(sections.items())


def _headline(record: dict, recipient_name: str, when: Callable[[datetime, str], str]) -> str:
    pathway = PATHWAYS.get(record["pathway"], record["pathway"].replace("_", " "))
    due = record.get("due_at")
    return f"New {pathway} referral for {recipient_name}" + (
        f": contact due by {when(due, 'due_at')}" if due is not None else "")


def subject(record: dict, recipient_name: str) -> str:
    """What, for whom and by when: no person's name, birth date or contact (lock screens)."""
    return _headline(record, recipient_name, uk_day)


def render_agency_email(record_type: str, record: dict, recipient_name: str,
                        recipient_email: str, *, sender: str,
                        now: datetime | None = None) -> EmailMessage:
    """The email to the agency: multipart/alternative, plain text then HTML."""
    sections = _sections(_rows(_schema(record_type), record))  # checks every field first
    if not isinstance(recipient_name, str) or not recipient_name.strip():
        raise ValueError("recipient_name must be a non-empty string")
    referral_id = record["referral_id"]
    context = {
        "victim_safe_to_contact": _scalar("boolean", record.get(SAFE_TO_CONTACT),
                                          SAFE_TO_CONTACT) == "Yes",
        "headline": _headline(record, recipient_name, uk_time_on_day),
        "sections": sections,
        "recipient_name": recipient_name,
        "referral_id": referral_id,
    }
    message = EmailMessage()
    message["Subject"] = subject(record, recipient_name)
    message["From"] = Address("Referral hub", addr_spec=sender)
    try:
        message["To"] = Address(addr_spec=recipient_email)
    except (ValueError, IndexError, TypeError):  # the parser's messages quote the address
        raise ValueError("recipient_email is not a valid email address") from None
    message["Date"] = format_datetime(now or datetime.now(UTC))
    # An amend is a new email about the same referral: its own Message-ID.
    message["Message-ID"] = message_id(referral_id, sender, prefix="referral" if record.get(
        "action", "refer") == "refer" else "amend-" + hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:12])
    message["X-Referral-Id"] = referral_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"  # no out-of-office replies to the hub
    message.set_content(_environment.get_template("agency.txt.j2").render(context),
                        subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(_environment.get_template("agency.html.j2").render(context),
                            subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def render_recall_email(record: dict, recipient_name: str, recipient_email: str, *, sender: str,
                        now: datetime | None = None) -> EmailMessage:
    """A recall (schemas/avro/recipient-recall.avsc): which referral, why, and to delete it.
    Nothing personal, like the record itself."""
    referral_id = record["referral_id"]
    message = EmailMessage()
    message["Subject"] = f"Withdrawn: {record['pathway']} referral {referral_id}"
    message["From"] = Address("Referral hub", addr_spec=sender)
    try:
        message["To"] = Address(addr_spec=recipient_email)
    except (ValueError, IndexError, TypeError):
        raise ValueError("recipient_email is not a valid email address") from None
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(referral_id, sender, prefix="recall")
    message["X-Referral-Id"] = referral_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(
        f"To {recipient_name}:\n\nThe {record['pathway']} referral {referral_id} "
        f"({record['police_reference']}) has been withdrawn. Reason: {record['reason']}.\n\n"
        "Please delete what you were sent under this referral and take no further action on it; "
        "nothing more is due.\n", subtype="plain", charset="utf-8")
    return message
