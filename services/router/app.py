"""The router: applies the pathway rules to each validated incident.

incidents.v1 -> rules.decide(incident, victim history, configuration) -> referrals.v1.
The victim's history is a faust table keyed like the topic (force:victim), rebuilt from
its changelog after a restart. Referrals are on the broker before the history records
the incident, so a crash in between replays the same decisions (same ids) rather than
losing them, and an incident already in the history is ignored.

contacts.v1 -> the first qualifying contact per referral -> the time_to_contact histogram.
"""
from __future__ import annotations

from datetime import datetime

import faust

from referral_hub.avro import AvroCodec
from referral_hub.config import HubConfig
from referral_hub.incident import Incident
from referral_hub.logs import get_logger
from referral_hub.metrics import (DEAD_LETTERS, DUPLICATE_INCIDENTS, REFERRALS,
                                  TIME_TO_CONTACT)
from referral_hub.records import dead_letter, is_first_contact_type
from referral_hub.rules import History, PriorIncident, decide
from referral_hub.settings import HubSettings
from referral_hub.streaming import faust_app, raw_topic, send_and_wait
from referral_hub.topics import CONTACTS, INCIDENTS, INCIDENTS_DLQ, REFERRALS as REFERRALS_TOPIC
from referral_hub.validation import Problem

log = get_logger()
APP_ID = "referral-hub-router"


def history_from_table(entries: list[dict]) -> History:
    return History(tuple(PriorIncident(e["reference"], datetime.fromisoformat(e["reported_at"]),
                                       e["referred_to_marac"]) for e in entries))


def history_to_table(history: History) -> list[dict]:
    return [{"reference": p.reference, "reported_at": p.reported_at.isoformat(),
             "referred_to_marac": p.referred_to_marac} for p in history.incidents]


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings.kafka, settings.router_host, settings.router_port)
    incidents = raw_topic(app, INCIDENTS)
    referrals = raw_topic(app, REFERRALS_TOPIC)
    dead_letters = raw_topic(app, INCIDENTS_DLQ)
    contacts = raw_topic(app, CONTACTS)
    victim_history = app.Table("victim-history", default=list)
    first_contact = app.Table("first-contact", default=str)

    @app.agent(incidents)
    async def route(stream):
        async for key, value in stream.items():
            victim_key = key.decode()
            try:
                incident = Incident.model_validate(codec.decode("incident", value), strict=False)
            except Exception as exc:  # a record we cannot read must not stop everyone else's
                log.error("incident_unreadable", error_type=type(exc).__name__)
                problem = Problem("(record)", f"unreadable on {INCIDENTS}: {type(exc).__name__}")
                await send_and_wait(dead_letters, victim_key, codec.encode(
                    "dead-letter", dead_letter("router", [problem], value, len(value))))
                DEAD_LETTERS.labels("router").inc()
                continue
            history = history_from_table(victim_history[victim_key])
            if history.has(incident.reference):
                DUPLICATE_INCIDENTS.inc()
                log.info("incident_duplicate_ignored", incident_ref=incident.reference)
                continue
            decisions = decide(incident, history, config)
            for decision in decisions:
                await send_and_wait(referrals, victim_key, codec.encode("referral", decision.as_record()))
                REFERRALS.labels(decision.pathway, decision.area).inc()
            victim_history[victim_key] = history_to_table(history.after(incident, decisions))
            log.info("incident_routed", incident_ref=incident.reference,
                     referral_ids=[d.referral_id for d in decisions],
                     pathways=[d.pathway for d in decisions], config_version=config.version)

    @app.agent(contacts)
    async def time_contacts(stream):
        async for key, value in stream.items():
            event = codec.decode("contact-event", value)
            referral_id = key.decode()
            if not is_first_contact_type(event["pathway"], event["type"]) or first_contact[referral_id]:
                continue
            first_contact[referral_id] = event["at"].isoformat()
            seconds = (event["at"] - event["reported_at"]).total_seconds()
            TIME_TO_CONTACT.labels(event["pathway"], event["area"]).observe(seconds)
            log.info("first_contact", referral_id=referral_id, pathway=event["pathway"],
                     area=event["area"], seconds=seconds)

    return app
