"""What the OpenAPI document says about the hub's HTTP API: tags, descriptions, every
status code an operation can answer, and the request example. Read at /docs (served
from the installed fastapi-offline package, so it works without internet) and at
/openapi.json. tests/integration/test_api_docs.py holds each answer to its documentation.
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel

from referral_hub.settings import SAMPLES_DIR

from .bounded_head import HEAD_BYTES, HEAD_SECONDS

INCIDENT_EXAMPLE = json.loads((SAMPLES_DIR / "incident.json").read_text())
RETRY_AFTER_SECONDS = 10

DESCRIPTION = f"""
Police forces send incident notifications; the hub decides who must be told (MARAC, IDVA,
community advocacy, the school's Key Adult through Operation Encompass, the MASH) and
tells them. Recipients report back what they did about each referral.

**Resending is always safe.** The same notification again (same `force`, `incident_id`
and `version`) is accepted again and changes nothing; the same contact report again is
answered `already recorded`. So whenever an answer is lost or is 503, send the same
request again.

**503** means the hub could not confirm that it kept the request (its message broker did
not confirm the write in time). The request may or may not have been kept; nothing more
will happen to it after the answer. Resend after `Retry-After` seconds.

**Limits.** A request's headers must arrive within {HEAD_SECONDS:.0f} s of the connection
opening (else the connection is closed) and be at most {HEAD_BYTES // 1024} KiB (else 431).
A notification's body is at most the configured limit (256 KiB by default; else 413).
"""

TAGS = [
    {"name": "incidents",
     "description": "For police forces. `Authorization: Bearer <the force's API key>`."},
    {"name": "referrals",
     "description": "For recipients. `Authorization: Bearer <the recipient's token>`."},
    {"name": "operations", "description": "For the hub's operators and load balancers. "
                                          "Metrics are on a port of their own, not here."},
]


class FieldProblem(BaseModel):
    path: str
    problem: str


class Accepted(BaseModel):
    """Accepted and routed on what is valid; `data_problems` lists what was not used."""
    incident_id: str
    status: Literal["accepted"] = "accepted"
    data_problems: list[FieldProblem] = []


class RefusedBody(BaseModel):
    detail: list[FieldProblem]


class Message(BaseModel):
    detail: str


class NotKept(BaseModel):
    """503: the broker did not confirm the write in time."""
    status: Literal["not confirmed"] = "not confirmed"
    detail: str = ("the hub could not confirm that it kept this request; it may or may not have. "
                   "Send the same request again after Retry-After seconds: resending is always safe")


class Recorded(BaseModel):
    event_id: str
    status: Literal["recorded", "already recorded"] = "recorded"


class Health(BaseModel):
    status: Literal["ok", "failing"]
    stopped: list[str] = []


def _retry_after(description: str) -> dict:
    return {"model": NotKept, "description": description, "headers": {"Retry-After": {
        "description": "seconds to wait before sending the same request again",
        "schema": {"type": "integer"}}}}


HEADERS_TOO_LARGE = {"model": RefusedBody, "description": f"Request headers over {HEAD_BYTES} bytes."}
NOT_CONFIRMED = _retry_after("Not confirmed: the request may or may not have been kept. "
                             "Send the same request again: resending is always safe.")

INCIDENT_RESPONSES = {
    202: {"description": "Accepted and kept. The same notification again changes nothing."},
    401: {"model": Message, "description": "No valid API key."},
    413: {"model": RefusedBody, "description": "The body is over the size limit; kept without its payload."},
    422: {"model": RefusedBody, "description":
          "Refused whole, with every problem's field path: not JSON text in UTF-8 (malformed, a NUL "
          "character, a name twice in one object), or against the contract or the configuration "
          "(including a `force` other than the API key's). Kept for review, never routed."},
    431: HEADERS_TOO_LARGE,
    503: NOT_CONFIRMED,
}

# The example (samples/incident.json) is added to the finished document by the app: FastAPI
# drops its null values (`"protective_notice": null`) on the way.
INCIDENT_REQUEST = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/IncidentNotification"}}}}}

CONTACT_RESPONSES = {
    202: {"description": "Recorded."},
    200: {"model": Recorded, "description": "Already recorded: the same report was sent before."},
    400: {"model": Message, "description": "The body is not JSON text in UTF-8."},
    401: {"model": Message, "description": "No valid recipient token."},
    403: {"model": Message, "description": "The referral was not sent to this recipient."},
    404: {"model": Message, "description": "No such referral (yet: referrals reach this API a moment "
                                           "after they are decided)."},
    422: {"model": RefusedBody, "description": "A bad report, with every problem's field path: an unknown "
                                               "`type`, `at` without an offset, before the incident or in the future."},
    431: HEADERS_TOO_LARGE,
    503: NOT_CONFIRMED,
}

HEALTH_RESPONSES = {
    200: {"model": Health, "description": "Every part of ingest is running."},
    431: HEADERS_TOO_LARGE,
    503: {"model": Health, "description": "A part of ingest has stopped (named in `stopped`)."},
}

INCIDENT_SCHEMA_DESCRIPTION = (
    "An incident notification: the hub's input contract. Unknown fields are refused; "
    "`incident_id` is 1-64 letters, digits and `-_./:`.")
