"""The page where a school's Key Adult acknowledges an Operation Encompass email.

GET  /acknowledge/{token}   the notification (child, when, present, police reference,
                            guidance) and an Acknowledge button; 410 expired link, 404 invalid;
                            a notification the police withdrew: that it was withdrawn, nothing else
POST /acknowledge/{token}   records the acknowledgement once and confirms it; pressing
                            again says when it was already acknowledged

The token (referral_hub/adapters/ack_tokens.py) is the only credential: there is no login, so every
response is `Cache-Control: no-store` and `Referrer-Policy: no-referrer` (the page shows a
child's name), may not be framed and runs no script. The pages work without JavaScript.

`store` is anything with ``get(referral_id) -> dict | None`` (the Encompass record plus
``acknowledged_at``) and ``async acknowledge(referral_id, at) -> bool`` (True the first
time); ``get`` may be a coroutine function too. ``clock.now()`` is an aware UTC datetime.
"""
from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from referral_hub.adapters.ack_tokens import ExpiredLink, InvalidLink, referral_for
from referral_hub.adapters.logs import get_logger
from referral_hub.services.notify.encompass_email import template_environment, uk_time_on_day, view

log = get_logger()
TEMPLATES = Path(__file__).resolve().parent / "templates"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
}

_environment = template_environment(TEMPLATES)


def _page(template: str, status: int = 200, **context) -> HTMLResponse:
    html = _environment.get_template(template).render(context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _link_problem(kind: str, referral_id: str | None = None) -> HTMLResponse:
    status = 410 if kind == "expired" else 404
    return _page("ack_link_problem.html.j2", status, kind=kind, referral_id=referral_id)


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def acknowledgement_routes(store, secret: str, clock) -> APIRouter:
    router = APIRouter(tags=["Operation Encompass acknowledgement"])

    async def _resolve(token: str) -> tuple[str | None, dict | None, HTMLResponse | None]:
        try:
            referral_id = referral_for(token, secret)
        except ExpiredLink as expired:
            log.info("encompass link expired", referral_id=expired.referral_id)
            return None, None, _link_problem("expired", expired.referral_id)
        except InvalidLink:
            log.info("encompass link invalid")
            return None, None, _link_problem("invalid")
        record = await _maybe_await(store.get(referral_id))
        if record is None:  # signed by us, but no such referral here (yet, or any more)
            log.warning("encompass link for unknown referral", referral_id=referral_id)
            return referral_id, None, _link_problem("invalid")
        if record.get("withdrawn"):
            return referral_id, None, _page("ack_withdrawn.html.j2", 410)
        return referral_id, record, None

    @router.get("/acknowledge/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def show(token: str) -> HTMLResponse:
        referral_id, record, problem = await _resolve(token)
        if problem:
            return problem
        return _page("ack_notification.html.j2", token=token, **view(record),
                     acknowledged=_when(record.get("acknowledged_at")))

    @router.post("/acknowledge/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def acknowledge(token: str) -> HTMLResponse:
        referral_id, record, problem = await _resolve(token)
        if problem:
            return problem
        acknowledged_at = record.get("acknowledged_at")
        first = False
        if acknowledged_at is None:
            at = clock.now()
            first = await store.acknowledge(referral_id, at)
            if first:
                acknowledged_at = at
                log.info("encompass acknowledged", referral_id=referral_id)
            else:  # acknowledged meanwhile (another press, another device)
                latest = await _maybe_await(store.get(referral_id)) or {}
                acknowledged_at = latest.get("acknowledged_at")
        if not first:
            log.info("encompass already acknowledged", referral_id=referral_id)
        return _page("ack_done.html.j2", first=first, **view(record),
                     acknowledged=_when(acknowledged_at))

    return router


def _when(moment: datetime | None) -> str | None:
    return uk_time_on_day(moment, "acknowledged_at") if moment else None
