"""The router: applies the pathway rules (referral_hub/core/rules.py) to each validated incident.

Three stages, because the rules need three histories with different partitioning:

1. incidents.v1 (key force:victim) -> decide_for_victim(incident, victim history). With
   no perpetrator, its decisions are published: referrals.v1 (the decision) and
   deliveries.v1 (what its recipient may see). Otherwise the incident goes on, with the
   decisions, to incidents.by-pair.v1.
2. incidents.by-pair.v1 (key force:person|person, the two ids sorted, so both roles of a
   counter-allegation meet on one partition) -> counter_allegation(incident, pair history,
   decisions) marks them, then they are published; the incident is forwarded to
   incidents.by-perpetrator.v1.
3. incidents.by-perpetrator.v1 (key force:perpetrator) -> decide_for_perpetrator(incident,
   perpetrator history) -> referrals.v1 (MATAC).

4. What the victim stage took into a history also goes to incidents.by-incident.v1 (key
   force/incident): the incident stage remembers, per incident, the victim its last version
   named (revisions.claimed). A version naming another victim (the person id corrected) sends
   the governing version to incidents.departed.v1, keyed by the earlier victim, which the
   victim stage reads with incidents.v1: that history lets the incident go and recalls what
   it made for whom the version no longer names (revisions.depart_victim). The new victim's
   history took the version as a first sighting: its referrals are made (a child's again,
   with the same id), and a late-notification effect on its later incidents follows.

Each history is a faust table keyed like its topic, rebuilt from its changelog after a
restart. It also remembers each incident's last version and what each referral's recipient
was sent, so a higher version refers, amends or recalls (referral_hub/core/revisions.py,
shared with `referral-hub route`); the same or a lower version is stale and changes
nothing. Actions are on the broker before a history records them, so a crash in between
replays the same actions (same ids) rather than losing them.

A version that no longer names an earlier version's perpetrator is also sent, without a
perpetrator, to that perpetrator's partition, which recalls what it made and lets the
incident go. A version that no longer names both of an earlier version's two people (the
victim's or the perpetrator's person id corrected, the perpetrator no longer named) is sent,
by the victim stage that took it (take) or let it go (let_go), to incidents.by-pair.v1 keyed
by the earlier pair and marked `departed` (after the earlier version that stage sent there,
on the same partition): that pair history lets the incident's lower versions go
(PairHistory.letting_go), publishing and forwarding nothing, so no later counter-allegation
between those two names it. Withdrawn, it leaves the pair history the same way when the
withdrawal names other people, and is recorded as withdrawn (counted by no rule) when it
names the same two.

The agents take the incidents faust has ready in a batch: they send every record of the
batch, wait once until the broker has them all, then write the histories
(streaming.Batch), instead of waiting for each record in turn.

Each decision also starts the referral's life on contacts.v1 (`referred`), which the
tracker (tracker.py) follows to first contact and reports overdue.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, Callable, get_args

import faust

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import HubConfig, Pathway
from referral_hub.core.incident import Incident
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import (DATA_PROBLEMS, DEAD_LETTERS, DUPLICATE_INCIDENTS, REFERRALS,
                                           STALE_VERSIONS)
from referral_hub.adapters.clock import Clock
from referral_hub.core.disclosure import disclose
from referral_hub.adapters.records import LIFE_EVENTS, contact_event, dead_letter
from referral_hub.core.history import (PairHistory, PairIncident, PerpetratorHistory, PerpetratorIncident,
                                       PriorIncident, SentReferral, VictimHistory)
from referral_hub.core.revisions import (LastVersion, claimed, depart_victim, revise_for_perpetrator,
                                        revise_for_victim)
from referral_hub.core.rules import Decision, counter_allegation, pair_key, perpetrator_key
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import Batch, agent, batch_producer, each_event, faust_app, raw_topic, send_and_wait
from referral_hub.adapters.topics import (CONTACTS, DELIVERIES, INCIDENTS, INCIDENTS_BY_INCIDENT, INCIDENTS_BY_PAIR,
                                          INCIDENTS_BY_PERPETRATOR, INCIDENTS_DEPARTED, INCIDENTS_DLQ,
                                          INCIDENTS_QUALITY,
                                          REFERRALS as REFERRALS_TOPIC)
from referral_hub.core.validation import Problem

from .forgetting import History, add_forgetting
from .tracker import add_tracker

log = get_logger()
APP_ID = "referral-hub-router"
BATCH = 200  # incidents at most between two waits for the broker


def victim_history(entries: list[dict]) -> VictimHistory:
    return VictimHistory(tuple(PriorIncident(**_entry(e)) for e in entries))


def perpetrator_history(entries: list[dict]) -> PerpetratorHistory:
    return PerpetratorHistory(tuple(PerpetratorIncident(**_entry(e)) for e in entries))


def _entry(value: dict) -> dict:
    """A history entry from its table value (entries written before versions: version 1)."""
    return value | {"reported_at": datetime.fromisoformat(value["reported_at"]),
                    "sent": tuple(_sent(s) for s in value.get("sent", ()))}


def _sent(value: dict) -> SentReferral:
    decision = value["decision"]
    return SentReferral(Decision(**decision | {
        key: datetime.fromisoformat(decision[key]) for key in ("reported_at", "due_at")} | {
        key: tuple(decision[key]) for key in ("reasons", "explanation", "linked_incidents")}),
        value["digest"], value["live"])


def pair_history(entries: list[dict]) -> PairHistory:
    return PairHistory(tuple(PairIncident(**e | {"reported_at": datetime.fromisoformat(e["reported_at"])})
                             for e in entries))


def last_version(value: dict) -> LastVersion | None:
    return LastVersion(**value) if value else None


def routed_incident(value: bytes, decisions: list[Decision], departed: bool = False) -> dict:
    """The victim stage's result for the pair stage (schemas/avro/routed-incident.avsc);
    `departed`: the incident leaves this pair's history instead (no decisions)."""
    return {"incident": value, "departed": departed, "decisions": [
        {name: list(v) if isinstance(v, tuple) else v for name, v in _fields(d)} for d in decisions]}


def victim_stage_decisions(record: dict) -> list[Decision]:
    return [Decision(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
            for d in record["decisions"]]


def latest(pending: dict, key: str, table, parse: Callable):
    """A key's history as the batch's earlier events left it, else as the table holds it."""
    return pending[key] if key in pending else parse(table[key])


def as_table_value(history: VictimHistory | PerpetratorHistory | PairHistory) -> list[dict]:
    return [_json_ready(e) for e in history.incidents]


def _json_ready(value):
    """Dataclasses as dicts, tuples as lists, times as ISO text. Not dataclasses.asdict: it
    deep-copies every field on the way, and was a fifth of the router's time in a replay."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: _json_ready(v) for name, v in _fields(value)}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _fields(instance) -> Iterator[tuple[str, Any]]:
    """A dataclass instance's fields and values, as they are (astuple and asdict copy them)."""
    return ((name, getattr(instance, name)) for name in instance.__dataclass_fields__)


def create_app(settings: HubSettings, config: HubConfig, codec: AvroCodec) -> faust.App:
    app = faust_app(APP_ID, settings, settings.router_host, settings.router_port)
    producer = batch_producer(settings)
    clock = Clock(settings.clock_file)
    DEAD_LETTERS.labels("router")  # from the start, so Prometheus's increase() sees the first
    for pathway in get_args(Pathway):  # every pathway on the dashboard from the start, at 0
        for area in config.areas:
            REFERRALS.labels(pathway, area)
    incidents = raw_topic(app, INCIDENTS, INCIDENTS_DEPARTED)  # one stage: one victim's events in order
    by_incident = raw_topic(app, INCIDENTS_BY_INCIDENT)
    departed = raw_topic(app, INCIDENTS_DEPARTED)
    by_pair = raw_topic(app, INCIDENTS_BY_PAIR)
    quality = raw_topic(app, INCIDENTS_QUALITY)
    by_perpetrator = raw_topic(app, INCIDENTS_BY_PERPETRATOR)
    referrals = raw_topic(app, REFERRALS_TOPIC)
    deliveries = raw_topic(app, DELIVERIES)
    dead_letters = raw_topic(app, INCIDENTS_DLQ)
    contacts = raw_topic(app, CONTACTS)
    victims = app.Table("victim-history", default=list)
    perpetrators = app.Table("perpetrator-history", default=list)
    pairs = app.Table("pair-history", default=list)
    last_versions = app.Table("incident-versions", default=dict)

    async def readable(key: bytes, value: bytes, topic: str) -> Incident | None:
        try:
            return Incident.model_validate(codec.decode("incident", value), strict=False)
        except Exception as exc:  # a record we cannot read must not stop everyone else's
            await dead_letter_for(key, value, topic, exc)
            return None

    async def readable_routed(key: bytes, value: bytes) -> tuple[Incident, bytes, list[Decision], bool] | None:
        try:
            record = codec.decode("routed-incident", value)
            incident = Incident.model_validate(codec.decode("incident", record["incident"]), strict=False)
            return incident, record["incident"], victim_stage_decisions(record), record["departed"]
        except Exception as exc:
            await dead_letter_for(key, value, INCIDENTS_BY_PAIR, exc)
            return None

    async def dead_letter_for(key: bytes, value: bytes, topic: str, exc: Exception) -> None:
        log.error("incident_unreadable", topic=topic, error_type=type(exc).__name__)
        problem = Problem("(record)", f"unreadable on {topic}: {type(exc).__name__}")
        await send_and_wait(dead_letters, key.decode(), codec.encode(
            "dead-letter", dead_letter("router", [problem], value, len(value))))
        DEAD_LETTERS.labels("router").inc()

    def publish(batch: Batch, incident: Incident, decisions: list[Decision], key: str | None = None) -> None:
        """`key`: the victim whose referrals these are, when the incident now names another."""
        key = key or incident.key
        for decision in decisions:
            record = decision.as_record()
            batch.send(referrals, key, codec.encode("referral", record))
            # What the recipient is sent: only the data it needs (disclosure.py).
            batch.send(deliveries, key, codec.encode(*disclose(decision, incident, config)))
            # A referral's life starts with `referred` and a recall ends it; the tracker
            # times it from contacts.v1. An amend keeps the referral's clock.
            life = LIFE_EVENTS.get(decision.action)
            if life:
                batch.send(contacts, decision.referral_id, codec.encode(
                    "contact-event", contact_event(record, life, clock.now())))
            if decision.action == "refer":
                REFERRALS.labels(decision.pathway, decision.area).inc()
        log.info("incident_routed", incident_ref=incident.reference, version=incident.version,
                 referral_ids=[d.referral_id for d in decisions],
                 actions=[d.action for d in decisions],
                 pathways=[d.pathway for d in decisions], config_version=config.version)

    def report_stale(batch: Batch, incident: Incident) -> None:
        """The same or a lower version, or one after a withdrawal: a data problem, nothing else."""
        STALE_VERSIONS.inc()
        DUPLICATE_INCIDENTS.inc()
        DATA_PROBLEMS.labels("version").inc()
        batch.send(quality, incident.reference, codec.encode("data-problem", {
            "received_at": clock.now(), "source": "router", "force": incident.force,
            "incident_id": incident.incident_id, "version": incident.version,
            "area": incident.local_authority, "path": "version", "field": "version",
            "problem": "stale", "bad_child_entry": False}))
        log.info("incident_version_stale", incident_ref=incident.reference, version=incident.version)

    def forget_perpetrator(batch: Batch, former: tuple[str, Incident] | None) -> None:
        if former:  # no longer named: that stage recalls its referrals and lets the incident go
            former_key, without = former
            batch.send(by_perpetrator, former_key, codec.encode("incident", without.model_dump()))

    def leave_pair(batch: Batch, former_pair: str | None, governing: bytes) -> None:
        """No longer named together: their pair history lets the incident go. On the pair's
        own partition, so after the earlier version this stage sent there."""
        if former_pair:
            batch.send(by_pair, former_pair, codec.encode(
                "routed-incident", routed_incident(governing, [], departed=True)))

    def take(batch: Batch, incident: Incident, value: bytes, key: str,
             history: VictimHistory) -> VictimHistory | None:
        """A notification into its victim's history: the history after, None when stale."""
        revision = revise_for_victim(incident, history, config)
        if revision.stale:
            report_stale(batch, incident)
            return None
        if incident.perpetrator:  # published by the pair stage, after its own check
            batch.send(by_pair, pair_key(incident),
                       codec.encode("routed-incident", routed_incident(value, revision.actions)))
        else:
            publish(batch, incident, revision.actions)
        for later, action in revision.late_effects:  # a late notification's effect on them
            publish(batch, later, [action])
        forget_perpetrator(batch, revision.former_perpetrator)
        leave_pair(batch, revision.former_pair, value)
        batch.send(by_incident, incident.reference, value)  # whose incident it is now
        return revision.history

    def let_go(batch: Batch, incident: Incident, value: bytes, key: str,
               history: VictimHistory) -> VictimHistory | None:
        """A version naming another victim, out of this (earlier) victim's history."""
        revision = depart_victim(incident, history, config)
        if revision.stale:
            return None  # let go already (a replay), or a higher version came back here
        publish(batch, incident, revision.actions, key)
        forget_perpetrator(batch, revision.former_perpetrator)
        leave_pair(batch, revision.former_pair, value)
        return revision.history

    # Each stage reads a key's history as the batch's earlier events left it (`pending`)
    # before the table's, which is only written once the broker has the batch's records.
    @agent(app, incidents, batches_of=BATCH)
    async def route_for_victims(batches):
        async for events in batches:
            batch, pending = Batch(producer), {}
            for event in each_event(events):
                topic = event.message.topic
                incident = await readable(event.key, event.value, topic)
                if incident is None:
                    continue
                departed_from = topic == INCIDENTS_DEPARTED  # the incident now names another victim
                key = event.key.decode() if departed_from else incident.key
                handle = let_go if departed_from else take
                after = handle(batch, incident, event.value, key, latest(pending, key, victims, victim_history))
                if after is not None:
                    pending[key] = after
                    batch.write_after(event, victims, key, as_table_value(after))
            await batch.done()

    @agent(app, by_incident, batches_of=BATCH)
    async def route_for_incidents(batches):
        """Per incident, the victim its last version named: a version naming another one
        sends the governing version to the victim that must let the incident go."""
        async for events in batches:
            batch, pending = Batch(producer), {}
            for event in each_event(events):
                incident = await readable(event.key, event.value, INCIDENTS_BY_INCIDENT)
                if incident is None:
                    continue
                key = event.key.decode()
                last = latest(pending, key, last_versions, last_version)
                now, departure = claimed(incident, last)
                if departure:
                    victim_key, governing = departure
                    batch.send(departed, victim_key, codec.encode("incident", governing.model_dump()))
                if now != last:
                    pending[key] = now
                    batch.write_after(event, last_versions, key, asdict(now))
            await batch.done()

    @agent(app, by_pair, batches_of=BATCH)
    async def route_for_pairs(batches):
        async for events in batches:
            batch, pending = Batch(producer), {}
            for event in each_event(events):
                routed = await readable_routed(event.key, event.value)
                if routed is None:
                    continue
                incident, value, decisions, departed = routed
                key = event.key.decode()
                history = latest(pending, key, pairs, pair_history)
                if departed:  # a later version names these two no more; nothing to publish
                    after = history.letting_go(incident)
                    if after != history:  # else let go already (a replay)
                        pending[key] = after
                        batch.write_after(event, pairs, key, as_table_value(after))
                    continue
                if history.is_stale(incident):
                    continue  # forwarded again after a restart; already published
                decisions = counter_allegation(incident, history, decisions)
                publish(batch, incident, decisions)
                batch.send(by_perpetrator, perpetrator_key(incident), value)
                pending[key] = history.recording(incident, PairHistory.remembered(incident, decisions), config)
                batch.write_after(event, pairs, key, as_table_value(pending[key]))
            await batch.done()

    @agent(app, by_perpetrator, batches_of=BATCH)
    async def route_for_perpetrators(batches):
        async for events in batches:
            batch, pending = Batch(producer), {}
            for event in each_event(events):
                key = event.key.decode()
                incident = await readable(event.key, event.value, INCIDENTS_BY_PERPETRATOR)
                if incident is None:
                    continue
                history = latest(pending, key, perpetrators, perpetrator_history)
                revision = revise_for_perpetrator(incident, history, config)
                if revision.stale:
                    continue  # forwarded again after a restart; already counted
                if revision.actions:
                    publish(batch, incident, revision.actions)
                pending[key] = revision.history
                batch.write_after(event, perpetrators, key, as_table_value(revision.history))
            await batch.done()

    add_tracker(app, settings, config, codec, clock)
    add_forgetting(app, settings, config, clock, {
        "victim": History(victims, victim_history), "pair": History(pairs, pair_history),
        "perpetrator": History(perpetrators, perpetrator_history),
        "incident": History(last_versions, last_version)})
    return app
