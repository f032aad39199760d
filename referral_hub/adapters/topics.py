"""Topic names. Recipient topics come from configuration (see HubConfig.recipient_topics),
and so do the raw input topics, one per configured force (raw_topics below)."""
from collections.abc import Iterable

RAW_PREFIX, RAW_SUFFIX = "incidents.raw.", ".v1"  # JSON from a force's systems that publish to Kafka
INCIDENTS = "incidents.v1"            # validated notifications, Avro, key force:victim
INCIDENTS_DLQ = "incidents.dlq.v1"    # refused input with every reason
INCIDENTS_QUALITY = "incidents.quality.v1"  # each data problem of an accepted notification, key force/incident
INCIDENTS_BY_PAIR = "incidents.by-pair.v1"  # router's repartition with the victim stage's decisions, key force:person|person
INCIDENTS_BY_PERPETRATOR = "incidents.by-perpetrator.v1"  # router's repartition, key force:perpetrator
INCIDENTS_BY_INCIDENT = "incidents.by-incident.v1"  # router's repartition of what a victim's history took, key force/incident
INCIDENTS_DEPARTED = "incidents.departed.v1"  # router's own: a version naming another victim, key the earlier force:victim
REFERRALS = "referrals.v1"            # every referral decision, key force:victim
DELIVERIES = "deliveries.v1"          # each recipient's record (personal data), key force:victim
DELIVERIES_DLQ = "deliveries.dlq.v1"  # records a channel could not deliver, with why; key referral_id
CONTACTS = "contacts.v1"              # referred, delivered, what recipients report; key referral_id
AUDIT = "audit.v1"                    # every disclosure: who got which referral, how, when
OVERDUE = "overdue.v1"                # referrals past due_at without contact, key referral_id
REFERRAL_CHECKS = "referral-checks.v1"  # router's own: "is this one overdue now?", key referral_id
WEBHOOK_RETRIES = "webhook-retries.v1"  # notify's own: "retry this recipient's webhook now", key force:victim
HISTORY_EXPIRIES = "history-expiries.v1"  # router's own: "forget this person now?", key as the history's

CORE_TOPICS = (INCIDENTS, INCIDENTS_DLQ, INCIDENTS_QUALITY, INCIDENTS_BY_PAIR, INCIDENTS_BY_PERPETRATOR,
               INCIDENTS_BY_INCIDENT, INCIDENTS_DEPARTED,
               REFERRALS, DELIVERIES,
               DELIVERIES_DLQ, CONTACTS, AUDIT, OVERDUE, REFERRAL_CHECKS, WEBHOOK_RETRIES,
               HISTORY_EXPIRIES)


def raw_topic(force: str) -> str:
    """The one force's raw input topic: what is on it speaks for that force alone, so a
    broker ACL that lets each force write only its own topic is all the authentication."""
    return f"{RAW_PREFIX}{force}{RAW_SUFFIX}"


def raw_topics(forces: Iterable[str]) -> list[str]:
    return [raw_topic(force) for force in forces]


def force_of_raw_topic(topic: str) -> str:
    return topic.removeprefix(RAW_PREFIX).removesuffix(RAW_SUFFIX)
