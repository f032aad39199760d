"""`referral-hub load-month DIR`: a month of synthetic data onto the topics, as the hub would
have written it, so the partnership board's report (`referral-hub report`) has something to
read. samples/month-2026-10/ is such a month; its README.md counts every figure by hand.

DIR holds three files:

    incidents.jsonl  notifications in the input contract, in the order the police sent them
                     (earlier months may be included: the rules need the victims' history)
    contacts.csv     incident_id,pathway,subject_id,type,at[,note]: what happened to each
                     referral after the decision. A referral is named by its incident, pathway
                     and subject, so the file needs no referral ids. A referral without a
                     `delivered` row was delivered a minute after the report.
    refused.jsonl    {"received_at", "source", "force", "body"}: notifications the hub refused

Each incident goes to incidents.v1 (key force:victim); the same rules as the router's
(`OfflineRouter`) decide its referrals, which go to referrals.v1; the delivery and contact
events go to contacts.v1 (key referral_id), in time order; each refused notification goes to
incidents.dlq.v1 with the problems `parse_incident` finds. Referral and event ids are
deterministic, so loading twice repeats records the report counts once, except the dead
letters: a refusal has no id, and a second load counts it again.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from referral_hub.adapters.avro import AvroCodec, codec_for
from referral_hub.config import HubConfig, load_config
from referral_hub.core.incident import Incident
from referral_hub.adapters.kafka import ensure_topics, existing_topics, make_producer, produce_and_wait
from referral_hub.adapters.records import contact_event, dead_letter
from referral_hub.commands.progress import Progress
from referral_hub.commands.route import OfflineRouter
from referral_hub.core.rules import Decision, referral_id
from referral_hub.settings import HubSettings
from referral_hub.adapters.topics import CONTACTS, INCIDENTS, INCIDENTS_DLQ, REFERRALS
from referral_hub.core.validation import Refused, parse_incident

DELIVERY_DELAY = timedelta(minutes=1)  # notify's usual time from decision to delivery
CONTACT_TYPES = ("delivered", "acknowledged", "contact_attempted", "safe_contact_made",
                 "unable_to_contact", "declined")


class SampleError(ValueError):
    """The sample files are inconsistent; the message names the file and line."""


@dataclass
class SampleMonth:
    """What the hub would have written, in the order it would have written it."""
    incidents: list[Incident] = field(default_factory=list)
    decisions: list[tuple[Incident, Decision]] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)


def _time(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SampleError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise SampleError(f"{where}: {text!r} has no UTC offset")
    return moment


def read_sample(directory: Path, config: HubConfig) -> SampleMonth:
    """Read and check the three files, and route the incidents with the hub's rules."""
    month, router = SampleMonth(), OfflineRouter(config)
    by_incident_id: dict[str, Incident] = {}
    path = directory / "incidents.jsonl"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            incident = parse_incident(line, config)
        except Refused as refused:
            raise SampleError(f"{path}: line {number}: {refused} (refused notifications "
                              f"belong in refused.jsonl)") from None
        if by_incident_id.setdefault(incident.incident_id, incident) is not incident:
            raise SampleError(f"{path}: line {number}: incident_id {incident.incident_id} "
                              "is used twice (contacts.csv names incidents by it)")
        month.incidents.append(incident)
        month.decisions += [(incident, d) for d in router.route(incident)]
    decisions = {d.referral_id: d for _, d in month.decisions}

    events: list[tuple[Decision, str, datetime]] = []
    path = directory / "contacts.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path}: line {number}"
            incident = by_incident_id.get(row["incident_id"])
            if incident is None:
                raise SampleError(f"{where}: no incident {row['incident_id']} in incidents.jsonl")
            decision = decisions.get(referral_id(incident, row["pathway"], row["subject_id"]))
            if decision is None:
                raise SampleError(f"{where}: the rules made no {row['pathway']} referral for "
                                  f"{row['subject_id']} on incident {row['incident_id']}")
            if row["type"] not in CONTACT_TYPES:
                raise SampleError(f"{where}: type {row['type']!r} is not one of {CONTACT_TYPES}")
            at = _time(row["at"], where)
            if at < decision.reported_at:
                raise SampleError(f"{where}: {row['type']} at {row['at']} is before the report")
            events.append((decision, row["type"], at))
    delivered = {d.referral_id for d, kind, _ in events if kind == "delivered"}
    events += [(d, "delivered", d.reported_at + DELIVERY_DELAY)
               for d in decisions.values() if d.referral_id not in delivered]
    events.sort(key=lambda event: event[2])  # stable: the file's order among equal times
    month.contacts = [contact_event(d.as_record(), kind, at) for d, kind, at in events]

    path = directory / "refused.jsonl"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        refusal = json.loads(line)
        payload = json.dumps(refusal["body"]).encode()
        try:
            parse_incident(payload, config)
        except Refused as refused:
            record = dead_letter(refusal["source"], refused.problems, payload, len(payload),
                                 refusal.get("force"))
            received_at = _time(refusal["received_at"], f"{path}: line {number}")
            month.dead_letters.append(record | {"received_at": received_at})
        else:
            raise SampleError(f"{path}: line {number}: the body is a valid notification")
    return month


def write_month(month: SampleMonth, settings: HubSettings, codec: AvroCodec,
                progress: Progress) -> None:
    """Onto the topics in the hub's order: incidents, then decisions, events, dead letters."""
    ensure_topics(settings.kafka, (INCIDENTS, REFERRALS, CONTACTS, INCIDENTS_DLQ))
    producer = make_producer(settings.kafka)
    records = [*((INCIDENTS, incident.key, "incident", incident.model_dump())
                 for incident in month.incidents),
               *((REFERRALS, incident.key, "referral", decision.as_record())
                 for incident, decision in month.decisions),
               *((CONTACTS, event["referral_id"], "contact-event", event) for event in month.contacts),
               *((INCIDENTS_DLQ, record["force"] or "unknown", "dead-letter", record)
                 for record in month.dead_letters)]
    progress.total = len(records)
    for topic, key, schema, record in records:
        produce_and_wait(producer, topic, key, codec.encode(schema, record))
        progress.advance()
    progress.finish()


def load_month(settings: HubSettings, directory: Path, out: TextIO, err: TextIO) -> int:
    config = load_config(settings.config_dir)
    try:
        month = read_sample(directory, config)
    except (SampleError, OSError, KeyError, json.JSONDecodeError) as exc:
        print(f"load-month: {type(exc).__name__}: {exc}", file=err)
        return 2
    existing_topics(settings.kafka)  # a broker that does not answer is one line, at once
    write_month(month, settings, codec_for(settings),
                Progress(err, "load-month", "records written"))
    print(f"{len(month.incidents)} incidents on {INCIDENTS}, {len(month.decisions)} referrals on "
          f"{REFERRALS}, {len(month.contacts)} events on {CONTACTS}, "
          f"{len(month.dead_letters)} refused on {INCIDENTS_DLQ}", file=out)
    return 0
