"""Acknowledgement links: one referral each, 7 days, nothing personal, nothing forged."""
import base64
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner

from referral_hub.adapters.ack_tokens import ExpiredLink, InvalidLink, issue, referral_for

SECRET = "test-secret-of-some-length-0123456789"
REFERRAL_ID = "ref-0123456789abcdef01234567"
SIGNED = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


@pytest.fixture
def at(monkeypatch):
    """at(moment): the time itsdangerous signs and checks tokens at; no sleeping."""
    def set_time(moment: datetime) -> None:
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(moment.timestamp()))
    set_time(SIGNED)
    return set_time


def test_round_trip(at):
    token = issue(REFERRAL_ID, SECRET)
    assert referral_for(token, SECRET) == REFERRAL_ID


def test_each_token_names_its_own_referral(at):
    other = "ref-ffffffffffffffffffffffff"
    assert referral_for(issue(other, SECRET), SECRET) == other
    assert issue(other, SECRET) != issue(REFERRAL_ID, SECRET)


def test_valid_for_seven_days(at):
    token = issue(REFERRAL_ID, SECRET)
    at(SIGNED + timedelta(days=6, hours=23))
    assert referral_for(token, SECRET) == REFERRAL_ID
    at(SIGNED + timedelta(days=7))
    assert referral_for(token, SECRET) == REFERRAL_ID
    at(SIGNED + timedelta(days=7, seconds=1))
    with pytest.raises(ExpiredLink) as expired:
        referral_for(token, SECRET)
    assert expired.value.referral_id == REFERRAL_ID  # which referral, for the coordinator
    assert REFERRAL_ID not in str(expired.value)


def test_a_shorter_maximum_age(at):
    token = issue(REFERRAL_ID, SECRET)
    at(SIGNED + timedelta(days=1, seconds=1))
    with pytest.raises(ExpiredLink):
        referral_for(token, SECRET, max_age_days=1)


def test_signed_in_the_future_is_invalid_not_expired(at):
    at(SIGNED + timedelta(days=1))
    token = issue(REFERRAL_ID, SECRET)
    at(SIGNED)
    with pytest.raises(InvalidLink):
        referral_for(token, SECRET)


def test_tampered_token_is_invalid(at):
    token = issue(REFERRAL_ID, SECRET)
    payload, timestamp, signature = token.split(".")
    for tampered in (
        f"ref-ffffffffffffffffffffffff.{timestamp}.{signature}",
        f"{payload[:-1]}8.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        f"{payload}.{timestamp[:-1]}{'A' if timestamp[-1] != 'A' else 'B'}.{signature}",
        token[:-1],
        token + "x",
        "",
        "not-a-token",
        "a.b.c",
        "ref-0123456789abcdef01234567",
        "ref-0123456789abcdef01234567.é.x",
    ):
        with pytest.raises(InvalidLink):
            referral_for(tampered, SECRET)


def test_different_secret_is_invalid(at):
    token = issue(REFERRAL_ID, SECRET)
    with pytest.raises(InvalidLink):
        referral_for(token, "another-secret-of-some-length-98765")


def test_another_purpose_with_the_same_secret_is_invalid(at):
    for salt in ("some-other-use", "itsdangerous.Signer"):
        token = TimestampSigner(SECRET, salt=salt).sign(REFERRAL_ID).decode()
        with pytest.raises(InvalidLink):
            referral_for(token, SECRET)


def test_token_carries_only_the_referral_id(at):
    token = issue(REFERRAL_ID, SECRET)
    referral_id, timestamp, signature = token.split(".")
    assert referral_id == REFERRAL_ID
    assert base64.urlsafe_b64decode(timestamp + "=" * (-len(timestamp) % 4)) \
        == int(SIGNED.timestamp()).to_bytes(4, "big")
    assert all(c.isalnum() or c in "-_" for c in timestamp + signature)  # safe in a URL path


def test_only_hub_referral_ids(at):
    with pytest.raises(ValueError):
        issue("Amelia Carter", SECRET)
    with pytest.raises(ValueError):
        issue(REFERRAL_ID, "short")
