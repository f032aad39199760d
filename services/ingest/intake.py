"""Accepting or refusing one notification, whichever way it arrived.

Accepted: one Avro record on incidents.v1, keyed by victim, and one record per data problem
on incidents.quality.v1 (counted by field path). Refused: one record on the dead-letter
topic with every problem and the payload, and a count. Nothing in between.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from confluent_kafka import Producer

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import HubConfig
from referral_hub.core.incident import Incident
from referral_hub.adapters.kafka import produce_and_wait
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.clock import Clock
from referral_hub.adapters.metrics import DATA_PROBLEMS, DEAD_LETTERS, INCIDENTS_ACCEPTED, INCIDENTS_REFUSED
from referral_hub.adapters.records import dead_letter
from referral_hub.settings import HubSettings
from referral_hub.adapters.topics import INCIDENTS, INCIDENTS_DLQ, INCIDENTS_QUALITY, raw_topics
from referral_hub.core.validation import Problem, Refused, field_label, parse_incident

log = get_logger()


def _contract_names(schema) -> set[str]:
    if isinstance(schema, dict):
        return set(schema.get("properties", {})) | {n for v in schema.values() for n in _contract_names(v)}
    return {n for v in schema for n in _contract_names(v)} if isinstance(schema, list) else set()


CONTRACT_NAMES = frozenset(_contract_names(Incident.model_json_schema()) | {"(body)"})


def loggable_path(path: str) -> str:
    """A problem's path with every name the contract does not have shown as `?`: a name
    the sender made up (an unknown or repeated member) may hold anything, personal data too."""
    return re.sub(r"[^.\[\]]+", lambda name: name[0] if name[0] in CONTRACT_NAMES
                  or name[0].isdigit() else "?", path)


@dataclass
class Intake:
    settings: HubSettings
    config: HubConfig
    codec: AvroCodec
    producer: Producer

    def __post_init__(self) -> None:
        # Series that exist from the start let Prometheus's increase() see the first one.
        for source in ("http", *raw_topics(self.config.forces)):
            DEAD_LETTERS.labels(source)

    def take(self, body: bytes, source: str, force: str | None = None) -> Incident:
        """Validate and publish; raise Refused (after dead-lettering) when it cannot be taken.

        `force` is the force an API key authenticated, or whose raw topic it came from;
        the body must name the same one.
        """
        received_at = Clock(self.settings.clock_file).now()
        try:
            incident = parse_incident(body, self.config, received_at)
            if force is not None and incident.force != force:
                vouched_by = "the API key" if source == "http" else "the topic"
                raise Refused([Problem("force", f"does not match the force of {vouched_by}")])
        except Refused as refused:
            self.refuse(source, refused.problems, body, len(body), force, reason="invalid")
            raise
        if incident.sent_at is None:  # spec: absent, the time the hub accepted it
            incident = incident.model_copy(update={"sent_at": received_at})
        produce_and_wait(self.producer, INCIDENTS, incident.key,
                         self.codec.encode("incident", incident.model_dump()))
        self.report_data_problems(incident, source, received_at)
        INCIDENTS_ACCEPTED.labels(source, incident.local_authority).inc()
        log.info("incident_accepted", incident_ref=incident.reference, source=source,
                 area=incident.local_authority,
                 data_problems=[field_label(p.path) for p in incident.data_problems])
        return incident

    def report_data_problems(self, incident: Incident, source: str, received_at) -> None:
        """Each problem on incidents.quality.v1 and in the count by field; the recipients it
        affects learn of it from their referral's reasons and explanation (rules.py)."""
        for problem in incident.data_problems:
            field = field_label(problem.path)
            produce_and_wait(self.producer, INCIDENTS_QUALITY, incident.reference, self.codec.encode(
                "data-problem", {"received_at": received_at, "source": source, "force": incident.force,
                                 "incident_id": incident.incident_id, "version": incident.version,
                                 "area": incident.local_authority, "path": problem.path,
                                 "field": field, "problem": problem.problem,
                                 "bad_child_entry": problem.bad_child_entry}))
            DATA_PROBLEMS.labels(field).inc()

    def refuse(self, source: str, problems: list[Problem], payload: bytes | None,
               size: int, force: str | None, reason: str) -> None:
        record = dead_letter(source, problems, payload, size, force)
        produce_and_wait(self.producer, INCIDENTS_DLQ, force or "unknown",
                         self.codec.encode("dead-letter", record))
        INCIDENTS_REFUSED.labels(source, reason).inc()
        DEAD_LETTERS.labels(source).inc()
        log.warning("incident_refused", source=source, reason=reason,
                    paths=[loggable_path(p.path) for p in problems])
