"""The Operation Encompass email to a school's Key Adult, and sending it by SMTP.

``render(record, ack_url)`` builds the message from the record the hub produces for a
school (see ``view()`` for the fields it reads); the templates are in ``templates/`` and
receive only the view, never the record, so whatever else a record carries (perpetrator,
address, risk answers) cannot reach an email. ``send(settings, message)`` delivers it.

The subject names no child: subjects show in lock-screen previews. The Message-ID is
derived from the referral id, so a resend of the same referral is recognisable.
Errors name fields, never their values.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_hub.adapters.logs import get_logger

log = get_logger()
UK = ZoneInfo("Europe/London")
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_SENDER = "operation-encompass@referral-hub.example.org"
REFERRAL_ID = re.compile(r"ref-[0-9a-f]{24}")
# The record's location_type as a Key Adult reads it: a kind of place, never an address.
LOCATION_WORDS = {"victim_home": "At the home of the adult victim",
                  "perpetrator_home": "At the home of the other adult involved",
                  "shared_home": "At the home the two adults share",
                  "public_place": "In a public place",
                  "other": "Somewhere other than a home or a public place"}


class SmtpSettings(BaseSettings):
    """Where Encompass emails go out: environment variables RH_SMTP_HOST, RH_SMTP_PORT, ..."""
    model_config = SettingsConfigDict(env_prefix="RH_SMTP_", frozen=True)

    enabled: bool = False  # off: schools' notifications go only to their Kafka topic,
    # and a recipient whose channel is email stops notify's start
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = Field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout_seconds: float = Field(default=30.0, gt=0)


class EmailNotSent(Exception):
    """SMTP delivery failed. The message names the SMTP error type and code, not the recipient."""

    def __init__(self, error_type: str, code: int | None = None) -> None:
        super().__init__(f"email not sent: {error_type}" + (f" ({code})" if code else ""))
        self.error_type = error_type
        self.code = code


def template_environment(templates: Path, keep_trailing_newline: bool = False) -> Environment:
    """Jinja over a template folder, shared with the acknowledgement page: `*.html.j2`
    escaped, plain-text templates not, and a variable the context lacks is an error."""
    return Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=keep_trailing_newline,
    )


_environment = template_environment(TEMPLATES, keep_trailing_newline=True)  # emails end in a newline


# -- formatting, shared with the acknowledgement page (services/ingest/acknowledge.py) --

def _aware(moment: datetime, field: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field} must be a timezone-aware datetime")
    return moment


def uk_day_time(moment: datetime, field: str = "time") -> str:
    """'Friday 20 November at 21:50', in UK local time (GMT or BST)."""
    local = _aware(moment, field).astimezone(UK)
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


def uk_time_on_day(moment: datetime, field: str = "time") -> str:
    """'08:30 on Monday 23 November', in UK local time."""
    local = _aware(moment, field).astimezone(UK)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"


def uk_day(moment: datetime, field: str = "time") -> str:
    """'Monday 23 November', the UK local day."""
    local = _aware(moment, field).astimezone(UK)
    return f"{local:%A} {local.day} {local:%B}"


def _date_of_birth(value: date | None, field: str = "child.date_of_birth") -> str:
    """'5 May 2015'; "not known" when the notification's was missing or impossible."""
    if value is None:
        return "not known"
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{field} must be a date")
    return f"{value.day} {value:%B %Y}"


def _paragraphs(text: str) -> list[list[str]]:
    """Guidance text as paragraphs (split at blank lines) of lines."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [[line.strip() for line in block.split("\n") if line.strip()] for block in blocks if block.strip()]


def _text(record: dict, *path: str) -> str:
    value = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"the Encompass record has no {'.'.join(path)}")
        value = value[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{'.'.join(path)} must be a non-empty string")
    return value.strip()


def _flag(record: dict, key: str) -> bool:
    value = record.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _optional_text(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be text or absent")
    return value.strip() if value and value.strip() else None


def _moment(record: dict, key: str) -> datetime:
    if key not in record:
        raise ValueError(f"the Encompass record has no {key}")
    return _aware(record[key], key)


def view(record: dict) -> dict:
    """What the email and the acknowledgement page may show, formatted, and nothing else.

    Reads only: referral_id, victim_safe_to_contact, parent_contact, due_at, child
    (given_name, family_name, date_of_birth), child_present, incident_at, location_type,
    child_voice, police_reference, setting (urn, name), guidance.
    """
    referral_id = _text(record, "referral_id")
    if not REFERRAL_ID.fullmatch(referral_id):
        raise ValueError("referral_id must be a hub referral id (ref- and 24 hex digits)")
    child = record.get("child")
    if not isinstance(child, dict) or "date_of_birth" not in child:
        raise ValueError("the Encompass record has no child.date_of_birth")
    given_name = _text(record, "child", "given_name")
    due_at = _moment(record, "due_at")
    return {
        "referral_id": referral_id,
        "victim_safe_to_contact": _flag(record, "victim_safe_to_contact"),
        "parent_contact": _text(record, "parent_contact"),
        "due_day": uk_day(due_at, "due_at"),
        "due_time_on_day": uk_time_on_day(due_at, "due_at"),
        "child_given_name": given_name,
        "child_name": f"{given_name} {_text(record, 'child', 'family_name')}",
        "child_date_of_birth": _date_of_birth(child["date_of_birth"]),
        "child_present": _flag(record, "child_present"),
        "incident_when": uk_day_time(_moment(record, "incident_at"), "incident_at"),
        "incident_where": LOCATION_WORDS.get(_optional_text(record, "location_type"), "Not given"),
        "child_voice": _optional_text(record, "child_voice"),
        "police_reference": _text(record, "police_reference"),
        "setting_name": _text(record, "setting", "name"),
        "setting_urn": _text(record, "setting", "urn"),
        "guidance_paragraphs": _paragraphs(_text(record, "guidance")),
    }


def subject(record: dict) -> str:
    """The subject line: no child's name (lock-screen previews), just what and by when."""
    return f"Operation Encompass: please read before school on {uk_day(_moment(record, 'due_at'), 'due_at')}"


def message_id(referral_id: str, sender: str = DEFAULT_SENDER, prefix: str = "encompass") -> str:
    """The same Message-ID every time for one referral, so a resend is recognisable.

    The prefix keeps each kind of email's ids apart (a school's, an agency's).
    """
    if not REFERRAL_ID.fullmatch(referral_id):
        raise ValueError("referral_id must be a hub referral id (ref- and 24 hex digits)")
    domain = sender.rpartition("@")[2] or "referral-hub.invalid"
    return f"<{prefix}.{referral_id}@{domain}>"


def render(record: dict, ack_url: str, *, sender: str = DEFAULT_SENDER,
           now: datetime | None = None) -> EmailMessage:
    """The email to the setting's Key Adult: multipart/alternative, plain text then HTML."""
    if not isinstance(ack_url, str) or not re.fullmatch(r"https?://[^\s\"'<>]+", ack_url):
        raise ValueError("ack_url must be an http(s) URL")
    context = view(record) | {"ack_url": ack_url}
    text = _environment.get_template("encompass.txt.j2").render(context)
    html = _environment.get_template("encompass.html.j2").render(context)

    message = EmailMessage()
    message["Subject"] = subject(record)
    message["From"] = Address("Operation Encompass", addr_spec=sender)
    try:
        message["To"] = Address(addr_spec=_text(record, "key_adult_email"))
    except (ValueError, IndexError, TypeError):  # the parser's messages quote the address
        raise ValueError("key_adult_email is not a valid email address") from None
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(context["referral_id"], sender)
    message["X-Referral-Id"] = context["referral_id"]
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"  # no out-of-office replies to the hub
    message["Importance"] = "high"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


async def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Deliver by SMTP: STARTTLS when settings.starttls, login when a username is set."""
    referral_id = message.get("X-Referral-Id")
    try:
        await aiosmtplib.send(
            message,
            sender=settings.sender,
            hostname=settings.host,
            port=settings.port,
            start_tls=settings.starttls,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            timeout=settings.timeout_seconds,
        )
    except aiosmtplib.SMTPException as error:
        # aiosmtplib's messages can quote recipients and server replies: keep type and code.
        log.warning("email_not_sent", referral_id=referral_id,
                    error_type=type(error).__name__, host=settings.host, port=settings.port)
        raise EmailNotSent(type(error).__name__, getattr(error, "code", None)) from None
    log.info("email_sent", referral_id=referral_id, host=settings.host,
             port=settings.port)
