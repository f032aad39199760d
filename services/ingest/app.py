"""The hub's HTTP API: police notifications in, recipients' contact reports back.

POST /v1/incidents                      202 accepted, 401 no valid key, 413 too large, 422 refused
POST /v1/referrals/{referral_id}/events 202 recorded (200 if already), 401 no recipient token,
                                        403 not your referral, 404 unknown, 422 bad event
                                        (both: 503 while the cluster cannot take the record; send again)
GET  /healthz (live), /ready (live and can write), /metrics, /docs, /openapi.json
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Literal

from confluent_kafka import KafkaException
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict

from referral_hub.clock import Clock
from referral_hub.config import Recipient
from referral_hub.incident import Incident
from referral_hub.kafka import produce_and_wait, without_leader
from referral_hub.logs import get_logger
from referral_hub.metrics import CONTACT_EVENTS, INCIDENTS_REFUSED
from referral_hub.records import contact_event
from referral_hub.lag import LagReporter
from referral_hub.topics import CONTACTS, INCIDENTS, INCIDENTS_DLQ, INCIDENTS_RAW
from referral_hub.validation import Problem, Refused

from .acknowledge import acknowledgement_routes
from .encompass_store import EncompassNotifications
from .intake import Intake
from .raw_topic import GROUP_ID as RAW_GROUP_ID, RawTopicValidator
from .referral_index import RecordedEvents, ReferralIndex

log = get_logger()
HTTP = "http"
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ a little between systems
REPORTABLE = Literal["acknowledged", "contact_attempted", "safe_contact_made",
                     "unable_to_contact", "declined"]


class Accepted(BaseModel):
    incident_id: str
    status: Literal["accepted"] = "accepted"


class FieldProblem(BaseModel):
    path: str
    problem: str


class RefusedBody(BaseModel):
    detail: list[FieldProblem]


class ContactReport(BaseModel):
    """What a recipient reports about a referral. `delivered` is the hub's own record."""
    model_config = ConfigDict(extra="forbid")
    type: REPORTABLE
    at: AwareDatetime


class Recorded(BaseModel):
    event_id: str
    status: Literal["recorded", "already recorded"] = "recorded"


def _refused(problems: list[Problem], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": [p.as_dict() for p in problems]}, status_code=status)


def create_app(intake: Intake, index: ReferralIndex, raw: RawTopicValidator | None,
               recorded: RecordedEvents, encompass: EncompassNotifications | None = None) -> FastAPI:
    clock = Clock(intake.settings.clock_file)

    @asynccontextmanager
    async def lifespan(_app):
        lag = LagReporter(intake.settings.kafka, RAW_GROUP_ID, [INCIDENTS_RAW])
        index.start()
        recorded.start()
        if encompass:
            encompass.start()
        if raw:
            raw.start()
            lag.start()
        yield
        lag.stop()
        if raw:
            raw.stop()
        recorded.stop()
        if encompass:
            encompass.stop()
        index.stop()

    app = FastAPI(title="Referral hub API", version="1", lifespan=lifespan)
    bearer = HTTPBearer(auto_error=False)

    def authenticated_force(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        force = credentials and intake.config.force_for_api_key(credentials.credentials)
        if not force:
            INCIDENTS_REFUSED.labels(HTTP, "unauthenticated").inc()
            raise HTTPException(401, "a valid API key is required: Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        return force

    def authenticated_recipient(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Recipient:
        recipient = credentials and intake.config.recipient_for_token(credentials.credentials)
        if not recipient:
            raise HTTPException(401, "a valid recipient token is required: Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        return recipient

    @app.exception_handler(KafkaException)
    async def cannot_write(_request, exc: KafkaException):
        # Not taken, so the sender must send it again: 503 says so. (The record may still
        # reach the broker later; the router ignores an incident it has seen.)
        log.warning("kafka_unwritable", error_type=type(exc).__name__)
        return JSONResponse({"detail": "the hub cannot store notifications just now; send it again"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def field_problems(_request, exc: RequestValidationError):
        return _refused([Problem(".".join(str(p) for p in e["loc"][1:]) or "(body)", e["msg"])
                         for e in exc.errors()])

    @app.post("/v1/incidents", status_code=202, response_model=Accepted,
              responses={401: {}, 413: {"model": RefusedBody}, 422: {"model": RefusedBody}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/IncidentNotification"}}}}})
    async def post_incident(request: Request, force: str = Depends(authenticated_force)):
        """Take one incident notification (shared/spec/incident-notification.md)."""
        limit = intake.settings.max_body_bytes
        body, size = b"", 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                body += chunk
        if size > limit:
            problem = Problem("(body)", f"is {size} bytes; the limit is {limit}")
            # Kept without its payload: over the limit is over what the topic should hold.
            await run_in_threadpool(intake.refuse, HTTP, [problem], None, size, force, "too_large")
            return _refused([problem], 413)
        try:
            incident = await run_in_threadpool(intake.take, body, HTTP, force)
        except Refused as refused:
            return _refused(refused.problems)
        return Accepted(incident_id=incident.incident_id)

    @app.post("/v1/referrals/{referral_id}/events", status_code=202, response_model=Recorded,
              responses={200: {"model": Recorded}, 401: {}, 403: {}, 404: {},
                         422: {"model": RefusedBody}})
    async def post_contact(referral_id: str, report: ContactReport,
                           recipient: Recipient = Depends(authenticated_recipient)):
        """Record what a recipient did about one of its referrals (each distinct report once)."""
        referral = index.get(referral_id)
        if referral is None:
            raise HTTPException(404, "no such referral")
        if not intake.config.may_report_on(recipient, referral):
            raise HTTPException(403, "this referral was not sent to you")
        if report.at < referral["reported_at"]:
            return _refused([Problem("at", "is before the incident was reported")])
        if report.at > clock.now() + FUTURE_TOLERANCE:
            return _refused([Problem("at", "is in the future")])
        event = contact_event(referral, report.type, report.at)
        if event["event_id"] in recorded:
            return JSONResponse(Recorded(event_id=event["event_id"], status="already recorded").model_dump())
        await run_in_threadpool(produce_and_wait, intake.producer, CONTACTS, referral_id,
                                intake.codec.encode("contact-event", event))
        recorded.add(event)
        CONTACT_EVENTS.labels(report.type).inc()
        log.info("contact_recorded", referral_id=referral_id, event_id=event["event_id"],
                 status=report.type, recipient=recipient.id)
        return Recorded(event_id=event["event_id"])

    def stopped_followers() -> list[str]:
        return [follower.name for follower in (index, recorded, raw, encompass)
                if follower and not follower.alive]

    @app.get("/healthz")
    async def healthz():
        if stopped := stopped_followers():
            return JSONResponse({"status": "failing", "stopped": stopped}, status_code=503)
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        """Live, and the cluster takes writes to the topics a notification goes to."""
        unwritable = await run_in_threadpool(without_leader, intake.producer, (INCIDENTS, INCIDENTS_DLQ))
        waiting = stopped_followers() + [f"a leader for every partition of {t}" for t in unwritable]
        if waiting:
            return JSONResponse({"status": "not ready", "waiting_for": waiting}, status_code=503)
        return {"status": "ready"}

    if intake.settings.ingest_metrics_port is None:  # else on that port (main.py)
        @app.get("/metrics")
        async def metrics():
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if encompass:  # the Key Adult's acknowledgement link, from the Encompass email
        app.include_router(acknowledgement_routes(
            encompass, intake.settings.ack_secret.get_secret_value(), clock))
    _document_incident_schema(app)
    return app


def _document_incident_schema(app: FastAPI) -> None:
    """Publish the incident contract in the OpenAPI document (the body is read raw)."""
    original = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        definitions = Incident.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["IncidentNotification"] = definitions
        return schema

    app.openapi = openapi
