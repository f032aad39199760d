"""Webhook delivery: a signed HTTP POST of a referral to a recipient, and the retry schedule.

The pieces here are pure or take their I/O as arguments (an `httpx.AsyncClient`, the time);
the notify service decides when to call them and keeps the pending retries.

What a recipient receives
-------------------------
``POST <their URL>`` with the referral's JSON as the body (see `json_body`) and these headers (here for the
body ``{"referral_id":"ref-1"}`` and the secret ``whsec-test-0001``)::

    Content-Type: application/json
    X-Referral-Hub-Timestamp: 1763700000
    X-Referral-Hub-Signature: v1=22a6f49f7ea3db31eac48f17ffffc64493334ef49c40d18c7dcab96156b06571
    Idempotency-Key: ref-1

The signature is HMAC-SHA256, keyed with the secret shared with that recipient, over the
timestamp in decimal, a full stop, then the body's exact bytes: ``b"1763700000." + body``;
written as lowercase hex after ``v1=``. While a secret is being rotated both the old and the
new secret are live and the header carries one entry for each, comma-separated
(``v1=<hex with old>,v1=<hex with new>``, no spaces), so a recipient holding either one verifies.
A delivery is retried, for up to a day, until the recipient answers 2xx (redirects are not
followed), so the same referral can arrive more than once: drop repeats by ``Idempotency-Key``.

Recipient's recipe (standard library only)::

    import hashlib
    import hmac
    import time

    def verify(secret: bytes, timestamp: str, signature: str, body: bytes,
               tolerance_seconds: int = 300) -> bool:
        # body: the raw request bytes, before any JSON parsing
        if not (timestamp.isascii() and timestamp.isdigit()):
            return False
        if abs(int(time.time()) - int(timestamp)) > tolerance_seconds:
            return False  # stale or from the future: a replay
        expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        received = [entry.strip()[3:] for entry in signature.split(",")
                    if entry.strip().startswith("v1=")]
        return any(hmac.compare_digest(expected.encode(), r.encode("ascii", "replace"))
                   for r in received)

`verify_signature` below is the same check (for several secrets at once, with the time
passed in); the tests run both.

Nothing here logs, and an `Attempt` never carries a response body or an exception's text
(either could echo personal data back): only the status code and a fixed phrase.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Referral-Hub-Timestamp"
SIGNATURE_HEADER = "X-Referral-Hub-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII: no spaces, CR or LF
_MAX_SIGNATURE_HEADER = 1024  # a handful of entries; anything longer is not ours
_GIVE_UP_AFTER = timedelta(hours=24)


def json_body(record_type: str, record: dict) -> bytes:
    """``{"record_type": "recipient-risk", "referral": {...}}``: the recipient's record with
    its fields in schema order (victim_safe_to_contact first); times are ISO 8601 with
    their offset, dates YYYY-MM-DD. The schemas are in schemas/avro/<record_type>.avsc."""
    def iso(value):
        if isinstance(value, date):  # datetime is a date too
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")
    return json.dumps({"record_type": record_type, "referral": record}, default=iso,
                      ensure_ascii=False, separators=(",", ":")).encode()


def _check_secrets(secrets: list[bytes]) -> None:
    if not secrets:
        raise ValueError("no webhook secret")
    if any(not isinstance(secret, bytes) or not secret for secret in secrets):
        raise ValueError("a webhook secret must be non-empty bytes")


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[bytes], timestamp: int, body: bytes) -> str:
    """``v1=<hex>``, or ``v1=<hex1>,v1=<hex2>`` with two live secrets (one entry per secret)."""
    _check_secrets(secrets)
    if timestamp < 0:
        raise ValueError("timestamp must be unix seconds")
    return ",".join(f"{SCHEME}={_digest(secret, timestamp, body)}" for secret in secrets)


def request_headers(secrets: list[bytes], timestamp: int, body: bytes,
                    idempotency_key: str) -> dict[str, str]:
    """The headers `deliver` sends with `body`."""
    if not _HEADER_VALUE.fullmatch(idempotency_key):
        raise ValueError("idempotency key must be 1-200 visible ASCII characters")
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify_signature(secrets: list[bytes], timestamp_header: str, signature_header: str,
                     body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """What a recipient runs on each request: True if it is ours, recent and unaltered.

    `body` is the raw request body. Refuses a timestamp more than `tolerance_seconds` from
    `now` either way (a replay), and any header that is not the documented format; accepts
    the request if any ``v1`` entry matches the HMAC under any of `secrets` (entries of other
    schemes are ignored, so a later scheme can be added alongside). Compares in constant time.
    """
    _check_secrets(secrets)
    if tolerance_seconds < 0:
        raise ValueError("tolerance must not be negative")
    if not isinstance(timestamp_header, str) or not _TIMESTAMP.fullmatch(timestamp_header):
        return False
    timestamp = int(timestamp_header)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    if not isinstance(signature_header, str) or len(signature_header) > _MAX_SIGNATURE_HEADER:
        return False
    received: list[bytes] = []
    for entry in signature_header.split(","):
        scheme, equals, value = entry.strip(" \t").partition("=")
        if not equals or not scheme:
            return False
        if scheme != SCHEME:
            continue
        if not _HEX_DIGEST.fullmatch(value):
            return False
        received.append(value.encode("ascii"))
    if not received:
        return False
    matched = False
    for secret in secrets:
        expected = _digest(secret, timestamp, body).encode("ascii")
        for candidate in received:  # no early exit: the work done is the same either way
            matched |= hmac.compare_digest(expected, candidate)
    return matched


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST. `problem` is a fixed phrase, safe to log; None if delivered."""
    delivered: bool
    status: int | None
    problem: str | None


def _refused(error: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen and len(seen) < 16:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


async def deliver(client: httpx.AsyncClient, url: str, secrets: list[bytes], body: bytes,
                  idempotency_key: str, now: int, timeout: float = 10.0) -> Attempt:
    """POST `body` to `url`, signed at `now` (unix seconds); never raises for the network.

    Delivered on any 2xx. Anything else is a failure to retry: another status (3xx
    included, since redirects are not followed), no answer within `timeout` seconds in all,
    or no connection. The response body is never read.
    """
    headers = request_headers(secrets, now, body, idempotency_key)
    try:
        async with asyncio.timeout(timeout):  # a whole-request deadline, not per read
            async with client.stream("POST", url, content=body, headers=headers,
                                     timeout=timeout, follow_redirects=False) as response:
                status = response.status_code
    except (TimeoutError, httpx.TimeoutException):
        return Attempt(False, None, "timeout")
    except httpx.ConnectError as error:
        problem = "connection refused" if _refused(error) else "connection failed"
        return Attempt(False, None, problem)
    except (httpx.ReadError, httpx.WriteError, httpx.CloseError, httpx.RemoteProtocolError):
        return Attempt(False, None, "connection lost")
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return Attempt(False, None, "invalid url")
    except httpx.HTTPError:
        return Attempt(False, None, "transport error")
    if 200 <= status < 300:
        return Attempt(True, status, None)
    return Attempt(False, status, f"status {status}")


def next_attempt_delay(attempt_number: int, rng: random.Random, base_seconds: float = 30,
                       cap_seconds: float = 3600) -> float:
    """Seconds to wait after failed attempt `attempt_number` (the first attempt is 0).

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt_number)],
    so recipients coming back up are not hit by every pending retry at once.
    """
    if type(attempt_number) is not int or attempt_number < 0:
        raise ValueError("attempt_number must be a non-negative int")
    if not base_seconds > 0 or not cap_seconds > 0:
        raise ValueError("base and cap must be positive")
    # 2.0**1024 overflows; a float product past the largest float is inf, which min() caps.
    ceiling = min(cap_seconds, base_seconds * 2.0 ** min(attempt_number, 1023))
    return rng.uniform(0, ceiling)


def gives_up(first_attempt_at: datetime, now: datetime, period: timedelta = _GIVE_UP_AFTER) -> bool:
    """True once `period` has passed since the first attempt (at exactly `period`, too).

    Both times must be timezone-aware.
    """
    if first_attempt_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return now - first_attempt_at >= period
