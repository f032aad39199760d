"""The webhook deliveries still waiting for their recipient: pure functions over one
victim's entry in notify's `webhook-waiting` table, so the waiting rules are tested
without Kafka, HTTP or a clock.

A victim's value is ``{recipient_id: [entry, ...]}``, each list in the order deliveries.v1
gave the referrals. Only the head of a list is ever attempted, so a recipient receives a
victim's referrals in order, and a later one never overtakes one still being retried.
An entry is a JSON object (faust tables hold JSON): referral_id, record (its Avro bytes
from deliveries.v1, base64), queued_at, attempts and next_at (ISO 8601, UTC).
The table's changelog therefore holds personal data, like deliveries.v1.
"""
from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Literal

from .webhook import gives_up

Queues = dict[str, list[dict]]


def new_entry(referral_id: str, record: bytes, now: datetime) -> dict:
    return {"referral_id": referral_id, "record": base64.b64encode(record).decode("ascii"),
            "queued_at": now.isoformat(), "attempts": 0, "next_at": now.isoformat()}


def record_of(entry: dict) -> bytes:
    return base64.b64decode(entry["record"])


def enqueue(queues: Queues, recipient_id: str, entry: dict) -> Queues:
    """`queues` with `entry` last for the recipient; unchanged if that referral waits already
    (a replayed delivery)."""
    waiting = queues.get(recipient_id, [])
    if any(e["referral_id"] == entry["referral_id"] for e in waiting):
        return queues
    return queues | {recipient_id: [*waiting, entry]}


def head(queues: Queues, recipient_id: str) -> dict | None:
    waiting = queues.get(recipient_id)
    return waiting[0] if waiting else None


def replace_head(queues: Queues, recipient_id: str, entry: dict) -> Queues:
    return queues | {recipient_id: [entry, *queues[recipient_id][1:]]}


def drop_head(queues: Queues, recipient_id: str) -> Queues:
    """`queues` without the recipient's head; a recipient with nothing left disappears."""
    rest = queues[recipient_id][1:]
    others = {r: w for r, w in queues.items() if r != recipient_id}
    return others | {recipient_id: rest} if rest else others


def queued_at(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["queued_at"])


def next_at(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["next_at"])


def is_due(entry: dict, now: datetime) -> bool:
    return next_at(entry) <= now


Step = Literal["wait", "attempt", "postpone", "give_up"]


def next_step(entry: dict, now: datetime, recipient_down_until: datetime | None,
              retry_for: timedelta) -> Step:
    """What to do with a queue's head now.

    wait: its retry time has not come. attempt: POST it. While the recipient is known to be
    down (a failed attempt set `recipient_down_until`, still ahead): postpone it to then, or
    give it up once `retry_for` has passed since it was queued, so every referral that runs
    out of time reaches the dead letters even if another victim's referral was the one that
    found the recipient down. A failed attempt past `retry_for` is given up by the caller.
    """
    if not is_due(entry, now):
        return "wait"
    if recipient_down_until is None or recipient_down_until <= now:
        return "attempt"
    return "give_up" if gives_up(queued_at(entry), now, retry_for) else "postpone"


def after_failure(entry: dict, retry_at: datetime) -> dict:
    return entry | {"attempts": entry["attempts"] + 1, "next_at": retry_at.isoformat()}


def postponed(entry: dict, retry_at: datetime) -> dict:
    """Not attempted (the recipient is known to be down): wait with it until `retry_at`."""
    return entry | {"next_at": max(next_at(entry), retry_at).isoformat()}


def due_recipients(queues: Queues, now: datetime) -> list[str]:
    return [r for r, waiting in queues.items() if waiting and is_due(waiting[0], now)]


def waiting_since(queues: Queues) -> dict[str, list[datetime]]:
    """recipient id -> when each of its waiting referrals was queued (for the gauges)."""
    return {r: [queued_at(e) for e in waiting]
            for r, waiting in queues.items()}
