"""What each recipient is sent: only the data it needs (schemas/avro/DISCLOSURE.md).

`disclose(decision, incident, config)` builds the record for the decision's recipient from
the incident, choosing the record type by pathway. Each type's Avro schema is the list of
what it may hold, so a field that is not in the schema cannot reach that recipient; a test
walks every type against the policy. Every record starts with the victim's
safe_to_contact flag, so no recipient can miss it.
"""
from __future__ import annotations

import hashlib

from referral_hub.config import HubConfig
from referral_hub.core.incident import Child, Incident
from referral_hub.core.rules import Decision, risk_level

RECORD_TYPES = {
    "MARAC": "recipient-risk", "IDVA": "recipient-risk",
    "COMMUNITY_ADVOCACY": "recipient-support", "YOUNG_PEOPLE": "recipient-support",
    "SPECIALIST": "recipient-support",
    "MASH_IDVA": "recipient-safeguarding", "ADULT_SAFEGUARDING": "recipient-safeguarding",
    "ENCOMPASS": "recipient-encompass", "MATAC": "recipient-matac",
    "OUT_OF_AREA": "recipient-risk",  # the contact passes the whole picture to the home area
}


def police_reference(incident: Incident, config: HubConfig) -> str:
    return f"{config.forces[incident.force].name} {incident.incident_id}"


def _header(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    return {"victim_safe_to_contact": incident.victim.contact.safe_to_contact,
            "referral_id": decision.referral_id, "pathway": decision.pathway,
            "area": decision.area, "recipient": decision.recipient,
            "reasons": list(decision.reasons), "explanation": list(decision.explanation),
            "police_reference": police_reference(incident, config),
            "reported_at": decision.reported_at, "due_at": decision.due_at,
            "action": decision.action}


def _victim(incident: Incident, address: bool = True) -> dict:
    fields = {"person_id", "given_name", "family_name", "date_of_birth", "gender", "contact"}
    return incident.victim.model_dump(include=fields | ({"postcode"} if address else set()))


def _perpetrator(incident: Incident) -> dict | None:
    return incident.perpetrator.model_dump() if incident.perpetrator else None


def _child(child: Child, household: bool) -> dict:
    record = child.model_dump(include={"person_id", "given_name", "family_name", "date_of_birth",
                                       "present"})
    if household:
        record |= {"resides_with": list(child.resides_with), "related_to": list(child.related_to),
                   "education_setting": child.education.setting, "urn": child.education.urn}
    return record


def _risk_referral(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    area = config.rules_area(incident.local_authority, incident.force)
    return {"victim": _victim(incident), "perpetrator": _perpetrator(incident),
            "risk": incident.risk.model_dump() | {"level": risk_level(incident.risk, area.risk)},
            "flags": list(incident.flags),
            "protective_notice": incident.protective_notice and incident.protective_notice.model_dump(),
            "children": [_child(c, household=False) for c in incident.children],
            "consent_to_share": incident.consent_to_share, "occurred_at": incident.occurred_at,
            "related_incidents": list(decision.linked_incidents)}


def _support_referral(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    area = config.rules_area(incident.local_authority, incident.force)
    return {"victim": _victim(incident, address=False),
            "risk_level": risk_level(incident.risk, area.risk),
            "consent_to_share": incident.consent_to_share,
            "protective_notice": incident.protective_notice and incident.protective_notice.model_dump(),
            "flags": list(incident.flags), "related_incidents": list(decision.linked_incidents)}


def _safeguarding_referral(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    area = config.rules_area(incident.local_authority, incident.force)
    return {"victim": _victim(incident), "perpetrator": _perpetrator(incident),
            "risk_level": risk_level(incident.risk, area.risk), "flags": list(incident.flags),
            "children": [_child(c, household=True) for c in incident.children],
            "related_incidents": list(decision.linked_incidents)}


def _encompass_notification(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    [child] = [c for c in incident.children if c.person_id == decision.subject_id]
    setting = config.education_settings.get(child.education.urn or "")
    fallback = config.agency(decision.recipient)
    return {"child": child.model_dump(include={"person_id", "given_name", "family_name",
                                               "date_of_birth"}),
            "child_present": child.present,
            "incident_at": incident.occurred_at or incident.reported_at,
            "location_type": incident.location_type, "child_voice": child.voice,
            "parent_contact": parent_contact(incident.victim.contact.safe_to_contact),
            "setting": {"urn": child.education.urn,
                        "name": setting.name if setting else f"{child.education.setting} (not in the directory)"},
            "key_adult_email": setting.key_adult_email if setting else str(fallback.email),
            "guidance": config.rules_area(incident.local_authority, incident.force).encompass_guidance}


def parent_contact(safe_to_contact: bool) -> str:
    """The victim's safe_to_contact flag as a teacher needs to hear it."""
    if safe_to_contact:
        return "You may contact the parent as you usually would."
    return ("Do not contact the parent about this. Contacting them could put them at risk; "
            "speak to your Designated Safeguarding Lead instead.")


def _matac_referral(decision: Decision, incident: Incident, config: HubConfig) -> dict:
    return {"perpetrator": _perpetrator(incident), "linked_incidents": list(decision.linked_incidents)}


BUILDERS = {"recipient-risk": _risk_referral, "recipient-support": _support_referral,
            "recipient-safeguarding": _safeguarding_referral,
            "recipient-encompass": _encompass_notification, "recipient-matac": _matac_referral}


def disclose(decision: Decision, incident: Incident, config: HubConfig) -> tuple[str, dict]:
    """(schema name, record) for the decision's recipient; a recall tells only which
    referral and why."""
    if decision.action == "recall":
        return "recipient-recall", {
            "referral_id": decision.referral_id, "action": "recall", "pathway": decision.pathway,
            "area": decision.area, "recipient": decision.recipient, "reason": decision.reasons[0],
            "police_reference": police_reference(incident, config),
            "reported_at": decision.reported_at, "due_at": decision.due_at}
    record_type = RECORD_TYPES[decision.pathway]
    return record_type, _header(decision, incident, config) | BUILDERS[record_type](decision, incident, config)


def subjects(record: dict) -> list[str]:
    """The person ids whose data a recipient record holds, for the audit trail."""
    people = [record[role]["person_id"] for role in ("victim", "perpetrator", "child")
              if record.get(role)]
    return people + [c["person_id"] for c in record.get("children", [])]


def audit_record(record_type: str, record: dict, channel: str, destination: str, at) -> dict:
    """The audit.v1 entry for one disclosure (schemas/avro/audit.avsc)."""
    key = f"{record['referral_id']}|{record['recipient']}|{channel}"
    return {"disclosure_id": "dsc-" + hashlib.sha256(key.encode()).hexdigest()[:24],
            "referral_id": record["referral_id"], "police_reference": record["police_reference"],
            "pathway": record["pathway"], "area": record["area"], "recipient": record["recipient"],
            "channel": channel, "destination": destination, "record_type": record_type,
            "subjects": subjects(record), "at": at}
