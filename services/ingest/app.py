"""The hub's HTTP API: police notifications in, recipients' contact reports back.

POST /v1/incidents                      202 accepted (with any data_problems), 401 no valid key,
                                        413 too large, 422 refused
POST /v1/referrals/{referral_id}/events 202 recorded (200 if already), 401 no recipient token,
                                        403 not your referral, 404 unknown, 422 bad event
GET  /healthz (live), /ready (live and can write), /docs (offline), /openapi.json
Any of them: 431 headers too large; 503 not confirmed, resend (api_docs.py documents each).
/metrics is on a port of its own (RH_INGEST_METRICS_PORT, services/ingest/main.py).
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Literal

from confluent_kafka import KafkaException
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi_offline import FastAPIOffline
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict

from referral_hub.adapters.clock import Clock
from referral_hub.config import Recipient
from referral_hub.core.incident import Incident
from referral_hub.adapters.kafka import NotConfirmed, produce_and_wait, without_leader
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import CONTACT_EVENTS, INCIDENTS_REFUSED
from referral_hub.adapters.records import contact_event
from referral_hub.adapters.lag import LagReporter
from referral_hub.adapters.topics import CONTACTS, INCIDENTS, INCIDENTS_DLQ, raw_topics
from referral_hub.core.validation import Problem, Refused

from .acknowledge import acknowledgement_routes
from .api_docs import (CONTACT_RESPONSES, DESCRIPTION, HEALTH_RESPONSES, INCIDENT_EXAMPLE,
                       INCIDENT_REQUEST, INCIDENT_RESPONSES, INCIDENT_SCHEMA_DESCRIPTION,
                       RETRY_AFTER_SECONDS, TAGS, Accepted, FieldProblem, NotKept, Recorded)
from .encompass_store import EncompassNotifications
from .intake import Intake
from .raw_topic import GROUP_ID as RAW_GROUP_ID, RawTopicValidator
from .referral_index import RecordedEvents, ReferralIndex

log = get_logger()
HTTP = "http"
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ a little between systems
REPORTABLE = Literal["acknowledged", "contact_attempted", "safe_contact_made",
                     "unable_to_contact", "declined"]


class ContactReport(BaseModel):
    """What a recipient reports about a referral. `delivered` is the hub's own record."""
    model_config = ConfigDict(extra="forbid")
    type: REPORTABLE
    at: AwareDatetime


def _refused(problems: list[Problem], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": [p.as_dict() for p in problems]}, status_code=status)


def create_app(intake: Intake, index: ReferralIndex, raw: RawTopicValidator | None,
               recorded: RecordedEvents, encompass: EncompassNotifications | None = None) -> FastAPI:
    clock = Clock(intake.settings.clock_file)

    @asynccontextmanager
    async def lifespan(_app):
        lag = LagReporter(intake.settings.kafka, RAW_GROUP_ID, raw_topics(intake.config.forces))
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

    # FastAPIOffline: /docs from the package's own copy of Swagger UI, not a CDN.
    app = FastAPIOffline(title="Referral hub API", version="1", description=DESCRIPTION,
                         openapi_tags=TAGS, redoc_url=None, lifespan=lifespan)
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

    @app.exception_handler(RequestValidationError)
    async def field_problems(_request, exc: RequestValidationError):
        return _refused([Problem(".".join(str(p) for p in e["loc"][1:]) or "(body)", e["msg"])
                         for e in exc.errors()])

    @app.exception_handler(NotConfirmed)
    @app.exception_handler(KafkaException)  # the cluster refused the write outright
    async def not_confirmed(_request, exc: NotConfirmed | KafkaException):
        log.warning("write_not_confirmed", source=HTTP, error_type=type(exc).__name__)
        return JSONResponse(NotKept().model_dump(), status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.post("/v1/incidents", status_code=202, response_model=Accepted, tags=["incidents"],
              summary="Send an incident notification", responses=INCIDENT_RESPONSES,
              openapi_extra=INCIDENT_REQUEST)
    async def post_incident(request: Request, force: str = Depends(authenticated_force)):
        """Take one incident notification. The body is the IncidentNotification below, for
        the force of the API key. Accepted means kept: the hub routes it from there."""
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
        return Accepted(incident_id=incident.incident_id, data_problems=[
            FieldProblem(path=p.path, problem=p.problem) for p in incident.data_problems])

    @app.post("/v1/referrals/{referral_id}/events", status_code=202, response_model=Recorded,
              tags=["referrals"], summary="Report what you did about a referral",
              responses=CONTACT_RESPONSES)
    async def post_contact(referral_id: str, report: ContactReport,
                           recipient: Recipient = Depends(authenticated_recipient)):
        """Record what a recipient did about one of its referrals: acknowledged, tried to
        contact, made safe contact, could not, or the victim declined. Each distinct report
        is recorded once; `referral_id` is the one in the referral the recipient received."""
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

    @app.get("/healthz", tags=["operations"], summary="Is ingest running?",
             responses=HEALTH_RESPONSES)
    async def healthz():
        """200 while every part of ingest runs (the API and its followers of the referral,
        contact, delivery and raw topics); 503 naming the parts that have stopped."""
        if stopped := stopped_followers():
            return JSONResponse({"status": "failing", "stopped": stopped}, status_code=503)
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Can ingest take notifications now?",
             responses=HEALTH_RESPONSES)
    async def ready():
        """200 when live and the cluster takes writes to the topics a notification goes to
        (a leader for every partition); 503 naming what it waits for."""
        unwritable = await run_in_threadpool(without_leader, intake.producer, (INCIDENTS, INCIDENTS_DLQ))
        waiting = stopped_followers() + [f"a leader for every partition of {t}" for t in unwritable]
        if waiting:
            return JSONResponse({"status": "not ready", "waiting_for": waiting}, status_code=503)
        return {"status": "ready"}

    if encompass:  # the Key Adult's acknowledgement link, from the Encompass email
        app.include_router(acknowledgement_routes(
            encompass, intake.settings.ack_secret.get_secret_value(), clock))
    _document_incident_schema(app)
    return app


def _document_incident_schema(app: FastAPI) -> None:
    """Publish the incident contract and its example in the OpenAPI document (the body is
    read raw, so FastAPI does not know its schema)."""
    original = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        definitions = Incident.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["IncidentNotification"] = definitions | {"description": INCIDENT_SCHEMA_DESCRIPTION}
        body = schema["paths"]["/v1/incidents"]["post"]["requestBody"]["content"]["application/json"]
        body["example"] = INCIDENT_EXAMPLE
        return schema

    app.openapi = openapi
