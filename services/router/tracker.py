"""The router's timeliness tracker: every referral from decision to first contact.

contacts.v1 (referred, delivered, recipients' reports; key referral_id) -> a faust table of
each open referral's status (referral_hub/core/timeliness.py) -> time-to-attempt and time-to-contact
histograms. A timer looks for referrals past due_at and sends a check for each to
referral-checks.v1, keyed like contacts.v1; the agent that owns the table decides on it,
so a referral is reported overdue once (then reminded daily), also across restarts.
Timers cannot write faust tables, hence the round trip through the checks topic.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import faust

from referral_hub.adapters.avro import AvroCodec
from referral_hub.adapters.clock import Clock
from referral_hub.config import HubConfig, Pathway
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import (FIRST_CONTACTS, OPEN_REFERRALS, OVERDUE_EVENTS, OVERDUE_REFERRALS,
                                  TIME_TO_CONTACT, TIME_TO_FIRST_ATTEMPT, UNDELIVERED_DUE_SOON)
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import agent, each_event, send_and_wait
from referral_hub.core.timeliness import (after_notice, days_overdue, is_open, is_overdue,
                                     is_undelivered_due_soon, overdue_notice, record_event)
from referral_hub.adapters.topics import CONTACTS, OVERDUE, REFERRAL_CHECKS

log = get_logger()
BATCH = 200  # events at most acknowledged together
GAUGES = {"open": (OPEN_REFERRALS, lambda s, now: is_open(s)),
          "overdue": (OVERDUE_REFERRALS, is_overdue),
          "undelivered": (UNDELIVERED_DUE_SOON, is_undelivered_due_soon)}


def add_tracker(app: faust.App, settings: HubSettings, config: HubConfig, codec: AvroCodec,
                clock: Clock) -> None:
    lifecycle = app.topic(CONTACTS, REFERRAL_CHECKS, key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw")
    checks = app.topic(REFERRAL_CHECKS, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    overdue = app.topic(OVERDUE, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
    escalation = {area.gss_code: app.topic(area.recipients["ESCALATION"].topic, key_type=bytes,
                                           value_type=bytes, key_serializer="raw",
                                           value_serializer="raw")
                  for area in config.areas.values()}
    # Open referrals only, so the overdue check's cost follows the referrals open now; a
    # closed one moves to `closed`, which only a late report on it reads.
    statuses = app.Table("referral-status", default=dict)
    closed = app.Table("closed-referrals", default=dict)
    labelled: set[tuple[str, str]] = set()
    for area in config.areas:  # every compliance series from the start: ratios need both
        for pathway in Pathway.__args__:
            for within in ("true", "false"):
                FIRST_CONTACTS.labels(pathway, area, within)

    @agent(app, lifecycle, batches_of=BATCH)  # acked a batch at a time; each event in turn
    async def track(batches):
        async for events in batches:
            for event in each_event(events):
                referral_id = event.key.decode()
                if event.message.topic == REFERRAL_CHECKS:
                    await notice_if_overdue(referral_id, datetime.fromisoformat(event.value.decode()))
                else:
                    observe(referral_id, codec.decode("contact-event", event.value))

    def observe(referral_id: str, contact: dict) -> None:
        status, observations = record_event(statuses[referral_id] or closed[referral_id] or None, contact)
        # Closed moves it out of referral-status; recalled then made again moves it back.
        holds, not_any_more = (statuses, closed) if is_open(status) else (closed, statuses)
        holds[referral_id] = status
        if referral_id in not_any_more:
            del not_any_more[referral_id]
        labels = (status["pathway"], status["area"])
        for observation in observations:
            if observation.kind == "first_attempt":
                TIME_TO_FIRST_ATTEMPT.labels(*labels).observe(observation.seconds)
            else:
                TIME_TO_CONTACT.labels(*labels).observe(observation.seconds)
                FIRST_CONTACTS.labels(*labels, str(observation.within_deadline).lower()).inc()
                log.info("first_contact", referral_id=referral_id, pathway=labels[0],
                         area=labels[1], seconds=observation.seconds)

    async def notice_if_overdue(referral_id: str, now: datetime) -> None:
        status = statuses[referral_id]
        kind = status and overdue_notice(status, now)
        if not kind:
            return  # contacted meanwhile, or already reported by an earlier check
        record = codec.encode("overdue", {
            "referral_id": referral_id, "kind": kind, "days_overdue": days_overdue(status, now),
            "pathway": status["pathway"], "area": status["area"], "recipient": status["recipient"],
            "escalation_contact": config.areas[status["area"]].recipients["ESCALATION"].id,
            "reported_at": datetime.fromisoformat(status["reported_at"]),
            "due_at": datetime.fromisoformat(status["due_at"]), "detected_at": now})
        await asyncio.gather(send_and_wait(overdue, referral_id, record),
                             send_and_wait(escalation[status["area"]], referral_id, record))
        statuses[referral_id] = after_notice(status, now)
        OVERDUE_EVENTS.labels(status["pathway"], status["area"], kind).inc()
        log.warning("referral_overdue", referral_id=referral_id, pathway=status["pathway"],
                    area=status["area"], status=kind)

    @app.timer(interval=settings.overdue_check_seconds)
    async def look_for_overdue():
        now = clock.now()
        counts = {name: Counter() for name in GAUGES}
        due = []
        # Read in turn, not copied first: the open referrals can be many (a replay of a year).
        for referral_id, status in statuses.items():
            labels = (status["pathway"], status["area"])
            labelled.add(labels)
            for name, (_gauge, holds) in GAUGES.items():
                counts[name][labels] += holds(status, now)
            if overdue_notice(status, now):
                due.append(send_and_wait(checks, referral_id, now.isoformat().encode()))
        await asyncio.gather(*due)
        for name, (gauge, _holds) in GAUGES.items():
            for labels in labelled:  # a count that fell to zero must show zero, not vanish
                gauge.labels(*labels).set(counts[name][labels])
