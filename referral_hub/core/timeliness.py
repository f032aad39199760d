"""Each referral's life from decision to first contact, and when it is overdue.

Pure functions over a referral's status (a JSON-ready dict, the router's table value) and
the events on contacts.v1, so the rules of timeliness are tested without Kafka or a clock:
a referral is open from its decision until its outcome: its first qualifying contact
(safe_contact_made; acknowledged for ENCOMPASS), `declined`, `unable_to_contact`, or
`recalled` by an amendment or a withdrawal; an attempt does not close it. Past due_at an
open referral is overdue, reported once and then reminded daily while it stays open; a
closed one never again (spec: Time to contact). `is_open` is the one test of that.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

QUALIFYING_CONTACT = {"ENCOMPASS": "acknowledged"}  # every other pathway: safe_contact_made


def is_first_contact_type(pathway: str, event_type: str) -> bool:
    """Which event stops the time-to-contact clock for this pathway (spec: Time to contact)."""
    return event_type == QUALIFYING_CONTACT.get(pathway, "safe_contact_made")


CLOSING_OUTCOMES = ("declined", "unable_to_contact", "recalled")  # besides first contact
REMINDER_EVERY = timedelta(days=1)
DUE_SOON = timedelta(minutes=30)


@dataclass(frozen=True)
class Observation:
    """A measurement an event makes: first attempt or first contact, seconds from the report."""
    kind: str  # "first_attempt" or "first_contact"
    seconds: float
    within_deadline: bool


def _at(status: dict, key: str) -> datetime | None:
    value = status.get(key)
    return datetime.fromisoformat(value) if value else None


def record_event(status: dict | None, event: dict) -> tuple[dict, list[Observation]]:
    """The status after a contacts.v1 event, and what it measured. Any event may come first
    (referred and delivered come from different services), and each counts once."""
    if status and event["type"] == "referred" and status.get("outcome") == "recalled":
        status = None  # recalled from one recipient and made to another (same id): open again
    status = dict(status or {
        "referral_id": event["referral_id"], "pathway": event["pathway"], "area": event["area"],
        "recipient": event["recipient"], "reported_at": event["reported_at"].isoformat(),
        "due_at": event["due_at"].isoformat()})
    at, kind, observations = event["at"], event["type"], []
    seconds = (at - event["reported_at"]).total_seconds()
    if kind == "delivered" and not status.get("delivered_at"):
        status["delivered_at"] = at.isoformat()
    elif kind == "contact_attempted" and not status.get("attempted_at"):
        status["attempted_at"] = at.isoformat()
        observations.append(Observation("first_attempt", seconds, at <= event["due_at"]))
    elif is_first_contact_type(status["pathway"], kind) and not status.get("contacted_at"):
        status["contacted_at"] = at.isoformat()
        observations.append(Observation("first_contact", seconds, at <= event["due_at"]))
    # The first outcome stands (a later report changes nothing), but a recall ends whatever
    # was before: made again to another recipient (same id), the referral is open for it.
    if (kind in CLOSING_OUTCOMES or is_first_contact_type(status["pathway"], kind)) \
            and (kind == "recalled" or not status.get("outcome")):
        status["outcome"] = kind
    return status, observations


def is_open(status: dict) -> bool:
    """Open until its outcome (statuses recorded before outcomes existed: first contact)."""
    return not status.get("outcome") and not status.get("contacted_at")


def is_overdue(status: dict, now: datetime) -> bool:
    return is_open(status) and now > _at(status, "due_at")


def is_undelivered_due_soon(status: dict, now: datetime) -> bool:
    return not status.get("delivered_at") and _at(status, "due_at") - now <= DUE_SOON


def overdue_notice(status: dict, now: datetime) -> str | None:
    """"overdue" the first time, "reminder" once a day after, while the referral stays open."""
    if not is_overdue(status, now):
        return None
    last = _at(status, "last_notice_at")
    if last is None:
        return "overdue"
    return "reminder" if now - last >= REMINDER_EVERY else None


def after_notice(status: dict, now: datetime) -> dict:
    return status | {"last_notice_at": now.isoformat()}


def days_overdue(status: dict, now: datetime) -> int:
    return (now - _at(status, "due_at")).days
