"""Signed links for a school's Key Adult to acknowledge an Operation Encompass email.

A token names exactly one referral and nothing else: it is the referral id itself
(``ref-`` and 24 hex digits, derived from a hash in ``referral_hub/core/rules.py``, so no personal
data), a timestamp and a signature, ``ref-….<time>.<signature>``, URL-safe as it is. It is
signed (itsdangerous TimestampSigner, HMAC-SHA256 over a derived key) with the hub's secret
(``RH_ACK_SECRET``) and a salt of its own, so a token made for another purpose with the same
secret is not accepted here, and it expires after 7 days.

    token = issue("ref-0123456789abcdef01234567", secret)
    referral_for(token, secret)  # -> "ref-0123456789abcdef01234567", or ExpiredLink / InvalidLink

Error messages never quote the token or the payload.
"""
from __future__ import annotations

import hashlib
import re

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

SALT = "referral-hub.operation-encompass.acknowledge.v1"
MAX_AGE_DAYS = 7
REFERRAL_ID = re.compile(r"ref-[0-9a-f]{24}")
MIN_SECRET_LENGTH = 16


class LinkError(Exception):
    """An acknowledgement link that cannot be used."""


class InvalidLink(LinkError):
    """Not a token this hub signed with this secret for acknowledgement (or tampered with)."""

    def __init__(self) -> None:
        super().__init__("acknowledgement link is not valid")


class ExpiredLink(LinkError):
    """A genuine token, older than its maximum age. ``referral_id`` says which referral."""

    def __init__(self, referral_id: str | None) -> None:
        super().__init__("acknowledgement link has expired")
        self.referral_id = referral_id


def _signer(secret: str) -> TimestampSigner:
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the acknowledgement secret must be at least {MIN_SECRET_LENGTH} characters")
    return TimestampSigner(secret, salt=SALT, digest_method=hashlib.sha256)


def _checked(referral_id: object) -> str:
    if not isinstance(referral_id, str) or not REFERRAL_ID.fullmatch(referral_id):
        raise InvalidLink()
    return referral_id


def issue(referral_id: str, secret: str) -> str:
    """A URL-safe token for this referral, valid for MAX_AGE_DAYS from now."""
    if not isinstance(referral_id, str) or not REFERRAL_ID.fullmatch(referral_id):
        raise ValueError("referral_id must be a hub referral id (ref- and 24 hex digits)")
    return _signer(secret).sign(referral_id).decode("ascii")


def referral_for(token: str, secret: str, max_age_days: int = MAX_AGE_DAYS) -> str:
    """The referral id the token names; ExpiredLink or InvalidLink if it cannot be used."""
    signer = _signer(secret)
    if not isinstance(token, str) or not token.isascii():
        raise InvalidLink()
    try:
        value = signer.unsign(token, max_age=max_age_days * 24 * 3600)
    except SignatureExpired as expired:
        # The signature is genuine. A token signed in the future (age < 0) is not expired:
        # it was not made by this hub's clock, so it is refused as invalid.
        if expired.date_signed is None or expired.date_signed.timestamp() > signer.get_timestamp():
            raise InvalidLink() from None
        payload = expired.payload.decode("ascii", "replace") if expired.payload else None
        raise ExpiredLink(payload if payload and REFERRAL_ID.fullmatch(payload) else None) from None
    except (BadSignature, ValueError):
        raise InvalidLink() from None
    return _checked(value.decode("ascii"))
