"""The router: applies the pathway rules (referral_hub/rules.py) to each validated incident.

Two stages, because the rules need two histories with different partitioning:

1. incidents.v1 (key force:victim) -> decide_for_victim(incident, victim history) ->
   referrals.v1 (the decision) and deliveries.v1 (what its recipient may see); the
   incident is forwarded to incidents.by-perpetrator.v1.
2. incidents.by-perpetrator.v1 (key force:perpetrator) -> decide_for_perpetrator(incident,
   perpetrator history) -> referrals.v1 (MATAC).

Each history is a faust table keyed like its topic, rebuilt from its changelog after a
restart. Referrals are on the broker before a history records the incident, so a crash in
between replays the same decisions (same ids) rather than losing them; an incident already
in a history is ignored. The agents take the incidents faust has ready in a batch: they
send every record of the batch, wait once until the broker has them all, then write the
histories (streaming.Batch), instead of waiting for each record in turn.

Each decision also starts the referral's life on contacts.v1 (`referred`), which the
tracker (tracker.py) follows to first contact and reports overdue.
"""
from __future__ import annotations

from datetime import datetime

import faust

from referral_hub.avro import AvroCodec
from referral_hub.config import HubConfig
from referral_hub.incident import Incident
from referral_hub.logs import get_logger
from referral_hub.metrics import DEAD_LETTERS, DUPLICATE_INCIDENTS, REFERRALS
from referral_hub.clock import Clock
from referral_hub.disclosure import disclose
from referral_hub.records import contact_event, dead_letter
from referral_hub.rules import (Decision, PerpetratorHistory, PerpetratorIncident, PriorIncident,
                                VictimHistory, decide_for_perpetrator, decide_for_victim,
                                perpetrator_key)
from referral_hub.settings import HubSettings
from referral_hub.streaming import Batch, agent, each_event, faust_app, raw_topic, send_and_wait
from referral_hub.topics import (CONTACTS, DELIVERIES, INCIDENTS, INCIDENTS_BY_PERPETRATOR, INCIDENTS_DLQ,
                                 REFERRALS as REFERRALS_TOPIC)
from referral_hub.validation import Problem

from .tracker import add_tracker

log = get_logger()
APP_ID = "referral-hub-router"
BATCH = 200  # incidents at most between two waits for the broker


def victim_history(entries: list[dict]) -> VictimHistory:
    return VictimHistory(tuple(PriorIncident(e["reference"], datetime.fromisoformat(e["reported_at"]),
                                             e["referred_to_marac"]) for e in entries))


def perpetrator_history(entries: list[dict]) -> PerpetratorHistory:
    return PerpetratorHistory(tuple(PerpetratorIncident(
        e["reference"], e["victim_key"], datetime.fromisoformat(e["reported_at"]),
        e["referred_to_matac"]) for e in entries))


def as_table_value(history: VictimHistory | PerpetratorHistory) -> list[dict]:
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(e).items()}
            for e in history.incidents]


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings, settings.router_host, settings.router_port)
    clock = Clock(settings.clock_file)
    DEAD_LETTERS.labels("router")  # from the start, so Prometheus's increase() sees the first
    incidents = raw_topic(app, INCIDENTS)
    by_perpetrator = raw_topic(app, INCIDENTS_BY_PERPETRATOR)
    referrals = raw_topic(app, REFERRALS_TOPIC)
    deliveries = raw_topic(app, DELIVERIES)
    dead_letters = raw_topic(app, INCIDENTS_DLQ)
    contacts = raw_topic(app, CONTACTS)
    victims = app.Table("victim-history", default=list)
    perpetrators = app.Table("perpetrator-history", default=list)

    async def readable(key: bytes, value: bytes, topic: str) -> Incident | None:
        try:
            return Incident.model_validate(codec.decode("incident", value), strict=False)
        except Exception as exc:  # a record we cannot read must not stop everyone else's
            log.error("incident_unreadable", topic=topic, error_type=type(exc).__name__)
            problem = Problem("(record)", f"unreadable on {topic}: {type(exc).__name__}")
            await send_and_wait(dead_letters, key.decode(), codec.encode(
                "dead-letter", dead_letter("router", [problem], value, len(value))))
            DEAD_LETTERS.labels("router").inc()
            return None

    async def publish(batch: Batch, incident: Incident, decisions: list[Decision]) -> None:
        for decision in decisions:
            record = decision.as_record()
            await batch.send(referrals, incident.key, codec.encode("referral", record))
            # What the recipient is sent: only the data it needs (disclosure.py).
            await batch.send(deliveries, incident.key, codec.encode(*disclose(decision, incident, config)))
            # The referral's life starts here; the tracker times it from contacts.v1.
            await batch.send(contacts, decision.referral_id, codec.encode(
                "contact-event", contact_event(record, "referred", clock.now())))
            REFERRALS.labels(decision.pathway, decision.area).inc()
        log.info("incident_routed", incident_ref=incident.reference,
                 referral_ids=[d.referral_id for d in decisions],
                 pathways=[d.pathway for d in decisions], config_version=config.version)

    # Each batch's histories as its events leave them (`later`), read before the table's,
    # which is only written once the broker has the batch's records.
    @agent(app, incidents, batches_of=BATCH)
    async def route_for_victims(batches):
        async for events in batches:
            batch, later = Batch(), {}
            for event in each_event(events):
                value = event.value
                incident = await readable(event.key, value, INCIDENTS)
                if incident is None:
                    continue
                history = later[incident.key] if incident.key in later else victim_history(victims[incident.key])
                if history.has(incident.reference):
                    DUPLICATE_INCIDENTS.inc()
                    log.info("incident_duplicate_ignored", incident_ref=incident.reference)
                    continue
                decisions = decide_for_victim(incident, history, config)
                await publish(batch, incident, decisions)
                if incident.perpetrator:
                    await batch.send(by_perpetrator, perpetrator_key(incident), value)
                later[incident.key] = history.after(incident, decisions, config)
                batch.write_after(event, victims, incident.key, as_table_value(later[incident.key]))
            await batch.done()

    @agent(app, by_perpetrator, batches_of=BATCH)
    async def route_for_perpetrators(batches):
        async for events in batches:
            batch, later = Batch(), {}
            for event in each_event(events):
                key = event.key.decode()
                incident = await readable(event.key, event.value, INCIDENTS_BY_PERPETRATOR)
                if incident is None:
                    continue
                history = later[key] if key in later else perpetrator_history(perpetrators[key])
                if history.has(incident.reference):
                    continue  # forwarded again after a restart; already counted
                decisions = decide_for_perpetrator(incident, history, config)
                if decisions:
                    await publish(batch, incident, decisions)
                later[key] = history.after(incident, decisions, config)
                batch.write_after(event, perpetrators, key, as_table_value(later[key]))
            await batch.done()

    add_tracker(app, settings, config, codec, clock)
    return app
