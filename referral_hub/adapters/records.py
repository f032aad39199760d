"""Records the services write besides referrals: contact events and dead letters."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from referral_hub.core.validation import Problem

# A referral's life starts with `referred` and a recall ends it; an amend keeps its clock.
LIFE_EVENTS = {"refer": "referred", "recall": "recalled"}


def contact_event(referral: dict, event_type: str, at: datetime) -> dict:
    """A contacts.v1 record; the same report twice has the same event_id."""
    at = at.astimezone(UTC)
    event_id = hashlib.sha256(f"{referral['referral_id']}|{event_type}|{at.isoformat()}"
                              .encode()).hexdigest()[:32]
    return {"event_id": f"evt-{event_id}", "referral_id": referral["referral_id"],
            "type": event_type, "at": at, "pathway": referral["pathway"],
            "area": referral["area"], "recipient": referral["recipient"],
            "reported_at": referral["reported_at"],
            "due_at": referral["due_at"]}


def dead_letter(source: str, problems: list[Problem], payload: bytes | None,
                payload_size: int, force: str | None = None) -> dict:
    return {"received_at": datetime.now(UTC), "source": source, "force": force,
            "problems": [p.as_dict() for p in problems], "payload": payload,
            "payload_size": payload_size}
