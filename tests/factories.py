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
