"""Synthetic incident notifications for tests (no real person's data)."""
from __future__ import annotations

import copy
import json
import uuid

from referral_hub.settings import REPO_ROOT

EXAMPLE = json.loads((REPO_ROOT / "samples" / "incident.json").read_text())


def incident(**changes) -> dict:
    """The spec's example with changes; `a__b=1` sets notification["a"]["b"]."""
    notification = copy.deepcopy(EXAMPLE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = notification
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value
    return notification


def fresh_incident(**changes) -> dict:
    """An example incident with its own incident and person ids (for a shared broker)."""
    tag = uuid.uuid4().hex[:10].upper()
    ids = {"incident_id": f"MP-T-{tag}", "victim__person_id": f"MP-P-V{tag}",
           "perpetrator__person_id": f"MP-P-P{tag}", "children__0__person_id": f"MP-P-C{tag}"}
    return incident(**(ids | changes))


def child(person_id: str = "MP-P-90009", born: str = "2015-05-05", present: bool = True,
          resides_with: list[str] | None = None, setting: str = "school",
          urn: str | None = "104808") -> dict:
    return {"person_id": person_id, "given_name": "Robin", "family_name": "Example",
            "date_of_birth": born, "present": present,
            "resides_with": ["victim"] if resides_with is None else resides_with,
            "education": {"setting": setting, "urn": urn}}


ENCOMPASS_REFERRAL_ID = "ref-0123456789abcdef01234567"
KEY_ADULT_EMAIL = "key.adult@sthelens-primary.example.org"


def encompass_record(**changes) -> dict:
    """A school's Operation Encompass record, as notify and the acknowledgement page see it."""
    from datetime import UTC, date, datetime
    return {
        "referral_id": ENCOMPASS_REFERRAL_ID,
        "victim_safe_to_contact": False,
        "due_at": datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
        "child": {"person_id": "p-child-1", "given_name": "Amelia", "family_name": "Carter",
                  "date_of_birth": date(2015, 5, 3)},
        "child_present": True,
        "incident_at": datetime(2026, 11, 20, 21, 50, tzinfo=UTC),  # GMT: 21:50 local
        "location_type": "shared_home",
        "child_voice": "Amelia told the officer she hid in her room and was worried about her mum.",
        "parent_contact": ("Do not contact the parent about this. Contacting them could put them at "
                           "risk; speak to your Designated Safeguarding Lead instead."),
        "police_reference": "Merseyside Police MP-2026-0004711",
        "setting": {"urn": "104812", "name": "St Helens Primary School"},
        "key_adult_email": KEY_ADULT_EMAIL,
        "guidance": ("Make sure Amelia has a trusted adult to go to today.\n"
                     "Do not ask the child about the incident.\n\n"
                     "Record this on the school's safeguarding system."),
    } | changes

