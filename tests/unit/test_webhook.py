"""Webhook delivery: signing, the recipient's check, a real HTTP recipient, the retry schedule."""
import asyncio
import hashlib
import hmac
import random
import re
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_hub.services.notify import webhook
from referral_hub.services.notify.webhook import (
    Attempt,
    deliver,
    gives_up,
    next_attempt_delay,
    request_headers,
    signature_header,
    verify_signature,
)

OLD, NEW, OTHER = b"whsec-test-0001", b"whsec-test-0002", b"whsec-someone-else"
TS = 1763700000
BODY = b'{"referral_id":"ref-1"}'
# Pinned: HMAC-SHA256(b"whsec-test-0001", b'1763700000.{"referral_id":"ref-1"}'), as in the
# module docstring's example.
PINNED = "22a6f49f7ea3db31eac48f17ffffc64493334ef49c40d18c7dcab96156b06571"
REFERRAL = b'{"referral_id":"ref-7f3a","pathway":"MARAC","recipient":"st-helens-marac"}'


def independent_hmac(secret: bytes, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# --- signing -------------------------------------------------------------------------------

def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    assert signature_header([OLD], TS, BODY) == f"v1={independent_hmac(OLD, TS, BODY)}"
    assert signature_header([OLD], TS, BODY) == f"v1={PINNED}"


def test_two_live_secrets_give_one_entry_each_in_order():
    header = signature_header([OLD, NEW], TS, BODY)
    assert header == f"v1={independent_hmac(OLD, TS, BODY)},v1={independent_hmac(NEW, TS, BODY)}"
    assert re.fullmatch(r"v1=[0-9a-f]{64},v1=[0-9a-f]{64}", header)


def test_the_signature_binds_the_timestamp_and_every_byte_of_the_body():
    assert signature_header([OLD], TS + 1, BODY) != signature_header([OLD], TS, BODY)
    assert signature_header([OLD], TS, BODY + b" ") != signature_header([OLD], TS, BODY)


@pytest.mark.parametrize("secrets", [[], [b""], [OLD, b""]])
def test_signing_needs_a_real_secret(secrets):
    with pytest.raises(ValueError):
        signature_header(secrets, TS, BODY)


def test_the_headers_sent():
    assert request_headers([OLD], TS, BODY, "ref-1") == {
        "Content-Type": "application/json",
        "X-Referral-Hub-Timestamp": "1763700000",
        "X-Referral-Hub-Signature": f"v1={PINNED}",
        "Idempotency-Key": "ref-1",
    }


@pytest.mark.parametrize("key", ["", "ref 1", "ref-1\r\nX-Evil: 1", "réf-1", "x" * 201])
def test_an_idempotency_key_that_cannot_be_a_header_value_is_refused(key):
    with pytest.raises(ValueError):
        request_headers([OLD], TS, BODY, key)


# --- the recipient's check -----------------------------------------------------------------

@pytest.mark.parametrize("recipient_holds", [[OLD], [NEW], [OLD, NEW], [NEW, OTHER]])
def test_during_rotation_a_recipient_holding_either_secret_verifies(recipient_holds):
    header = signature_header([OLD, NEW], TS, BODY)
    assert verify_signature(recipient_holds, str(TS), header, BODY, now=TS)


def test_a_recipient_holding_both_verifies_a_sender_still_on_one():
    assert verify_signature([OLD, NEW], str(TS), signature_header([OLD], TS, BODY), BODY, now=TS)
    assert verify_signature([OLD, NEW], str(TS), signature_header([NEW], TS, BODY), BODY, now=TS)


def test_a_tampered_body_is_rejected():
    header = signature_header([OLD, NEW], TS, BODY)
    assert not verify_signature([OLD], str(TS), header, BODY.replace(b"ref-1", b"ref-2"), now=TS)
    assert not verify_signature([OLD], str(TS), header, BODY + b"\n", now=TS)


def test_a_wrong_secret_is_rejected():
    header = signature_header([OLD, NEW], TS, BODY)
    assert not verify_signature([OTHER], str(TS), header, BODY, now=TS)


def test_a_replayed_signature_under_a_fresh_timestamp_is_rejected():
    header = signature_header([OLD], TS, BODY)
    assert not verify_signature([OLD], str(TS + 600), header, BODY, now=TS + 600)


@pytest.mark.parametrize("now, accepted", [
    (TS, True), (TS + 300, True), (TS - 300, True),  # exactly at the tolerance: still fresh
    (TS + 301, False),  # stale
    (TS - 301, False),  # from the future
    (TS + 86_400, False),
])
def test_the_timestamp_must_be_within_the_tolerance(now, accepted):
    header = signature_header([OLD], TS, BODY)
    assert verify_signature([OLD], str(TS), header, BODY, now=now) is accepted


def test_the_tolerance_is_adjustable():
    header = signature_header([OLD], TS, BODY)
    assert verify_signature([OLD], str(TS), header, BODY, now=TS + 30, tolerance_seconds=30)
    assert not verify_signature([OLD], str(TS), header, BODY, now=TS + 31, tolerance_seconds=30)


@pytest.mark.parametrize("timestamp", [
    "", " 1763700000", "1763700000 ", "+1763700000", "-1763700000", "1763700000.0", "1.7637e9",
    "1763_700_000", "١٧٦٣٧٠٠٠٠٠", "0x691f5c20", "9" * 13, "abc",
])
def test_a_malformed_timestamp_is_rejected(timestamp):
    header = signature_header([OLD], TS, BODY)
    assert not verify_signature([OLD], timestamp, header, BODY, now=TS)


@pytest.mark.parametrize("header", [
    "", ",", "v1", "v1=", f"v1={PINNED[:-1]}", f"v1={PINNED}0", f"v1={PINNED.upper()}",
    f"v1:{PINNED}", f"={PINNED}", f"sha256={PINNED}", PINNED, f"v1={PINNED};", f"v1={PINNED},",
    f"v1={PINNED},garbage", f"v1={'é' * 64}", f"v1={PINNED}," + "v1=" + "0" * 64 + "," * 1000,
])
def test_a_malformed_signature_header_is_rejected(header):
    assert not verify_signature([OLD], str(TS), header, BODY, now=TS)


def test_spaces_after_commas_and_entries_of_other_schemes_are_tolerated():
    other_scheme = "v2=" + "ab" * 32
    assert verify_signature([OLD], str(TS), f"{other_scheme}, v1={PINNED}", BODY, now=TS)
    assert not verify_signature([OLD], str(TS), other_scheme, BODY, now=TS)


def test_signatures_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_signature([OLD, NEW], str(TS), f"v1={PINNED}", BODY, now=TS)
    assert len(calls) == 2  # every secret against every entry, even after a match


def test_verifying_needs_a_real_secret():
    with pytest.raises(ValueError):
        verify_signature([], str(TS), f"v1={PINNED}", BODY, now=TS)


def _docstring_recipe() -> Callable[..., bool]:
    """The stdlib-only `verify` in the module docstring, executed as written."""
    doc = webhook.__doc__
    start = doc.index("Recipient's recipe (standard library only)::")
    block = doc[start:].split("\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    namespace: dict = {}
    exec(textwrap.dedent("\n".join(lines)), namespace)  # noqa: S102 - our own docstring
    return namespace["verify"]


def test_the_documented_recipe_agrees_with_verify_signature():
    recipe = _docstring_recipe()
    now = int(time.time())
    header = signature_header([OLD, NEW], now, BODY)
    cases = [
        (OLD, str(now), header, BODY),
        (NEW, str(now), header, BODY),
        (OTHER, str(now), header, BODY),
        (OLD, str(now), header, BODY + b"x"),
        (OLD, str(now - 3600), signature_header([OLD], now - 3600, BODY), BODY),
        (OLD, "x", header, BODY),
        (OLD, str(now), "v1=" + "é" * 64, BODY),
    ]
    for secret, timestamp, signature, body in cases:
        assert recipe(secret, timestamp, signature, body) == verify_signature(
            [secret], timestamp, signature, body, now=now)
    assert recipe(OLD, str(now), header, BODY) is True


# --- a real HTTP recipient -----------------------------------------------------------------

@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: hang up without answering
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0


@dataclass
class Recipient:
    """What the test's server saw, and how it answers request number n (from 0)."""
    answer: Callable[[int, Received], Reply]
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)  # ends any delay early

    def record(self, received: Received) -> Reply:
        with self.lock:
            self.requests.append(received)
            return self.answer(len(self.requests) - 1, received)


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        recipient: Recipient = self.server.recipient
        length = int(self.headers.get("Content-Length") or 0)
        received = Received(self.command, self.path,
                            {name.lower(): value for name, value in self.headers.items()},
                            self.rfile.read(length))
        reply = recipient.record(received)
        if reply.delay:
            recipient.release.wait(reply.delay)
        if reply.status is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, as the timeout test intends

    do_POST = do_GET = _handle

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def recipient_server(answer: Callable[[int, Received], Reply]) -> Iterator[Recipient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    recipient = Recipient(answer, url=f"http://127.0.0.1:{server.server_address[1]}/hooks/referrals")
    server.recipient = recipient
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield recipient
    finally:
        recipient.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def always(reply: Reply) -> Callable[[int, Received], Reply]:
    return lambda _n, _received: reply


def post(url: str, *, secrets=(OLD,), body: bytes = REFERRAL, key: str = "ref-7f3a",
         now: int | None = None, timeout: float = 5.0, **client_options) -> Attempt:
    async def go() -> Attempt:
        async with httpx.AsyncClient(trust_env=False, **client_options) as client:
            return await deliver(client, url, list(secrets), body, key,
                                 int(time.time()) if now is None else now, timeout=timeout)
    return asyncio.run(go())


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(status):
    with recipient_server(always(Reply(status))) as recipient:
        assert post(recipient.url) == Attempt(delivered=True, status=status, problem=None)
        assert len(recipient.requests) == 1


def test_a_500_is_not_delivered_and_the_response_body_is_not_kept():
    echo = b'{"error": "could not match Jane Example, born 2001-02-03"}'
    with recipient_server(always(Reply(500, body=echo))) as recipient:
        attempt = post(recipient.url)
    assert attempt == Attempt(delivered=False, status=500, problem="status 500")
    assert "Jane" not in repr(attempt)


def test_a_recipient_slower_than_the_timeout_is_a_timeout():
    with recipient_server(always(Reply(200, delay=5))) as recipient:
        started = time.monotonic()
        attempt = post(recipient.url, timeout=0.5)
        elapsed = time.monotonic() - started
    assert attempt == Attempt(delivered=False, status=None, problem="timeout")
    assert elapsed < 2


def test_a_closed_port_is_a_connection_problem():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = post(f"http://127.0.0.1:{port}/hooks/referrals", timeout=2)
    assert attempt == Attempt(delivered=False, status=None, problem="connection refused")


def test_a_recipient_that_hangs_up_without_answering_is_a_connection_problem():
    with recipient_server(always(Reply(None))) as recipient:
        attempt = post(recipient.url, timeout=2)
    assert attempt == Attempt(delivered=False, status=None, problem="connection lost")


def test_a_url_that_is_not_http_is_not_delivered():
    assert post("ftp://127.0.0.1/hooks") == Attempt(False, None, "invalid url")


def test_a_redirect_is_not_followed_even_by_a_client_that_would():
    def answer(_n: int, received: Received) -> Reply:
        if received.path == "/hooks/referrals":
            return Reply(302, headers=(("Location", "/elsewhere"),))
        return Reply(200)
    with recipient_server(answer) as recipient:
        attempt = post(recipient.url, follow_redirects=True)
        paths = [r.path for r in recipient.requests]
    assert attempt == Attempt(delivered=False, status=302, problem="status 302")
    assert paths == ["/hooks/referrals"]


@pytest.mark.parametrize("recipient_holds, delivered", [
    ([OLD], True), ([NEW], True), ([OTHER], False)])
def test_the_recipient_verifies_what_it_receives(recipient_holds, delivered):
    def answer(_n: int, received: Received) -> Reply:
        ok = verify_signature(recipient_holds, received.headers["x-referral-hub-timestamp"],
                              received.headers["x-referral-hub-signature"], received.body,
                              now=int(time.time()))
        return Reply(204 if ok else 401)
    now = int(time.time())
    with recipient_server(answer) as recipient:
        attempt = post(recipient.url, secrets=(OLD, NEW), now=now)
        [received] = recipient.requests
    assert attempt.delivered is delivered
    assert attempt.status == (204 if delivered else 401)
    assert received.method == "POST"
    assert received.body == REFERRAL
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-referral-hub-timestamp"] == str(now)
    signature = received.headers["x-referral-hub-signature"]
    assert signature == signature_header([OLD, NEW], now, REFERRAL)
    assert received.headers["idempotency-key"] == "ref-7f3a"


def test_the_same_referral_posted_twice_carries_the_same_idempotency_key():
    processed: list[bytes] = []

    def answer(_n: int, received: Received) -> Reply:
        key = received.headers["idempotency-key"]
        if key not in {r.headers["idempotency-key"] for r in recipient.requests[:-1]}:
            processed.append(received.body)
        return Reply(200)
    with recipient_server(answer) as recipient:
        first = post(recipient.url, now=int(time.time()))
        second = post(recipient.url, now=int(time.time()) + 1)  # a retry, signed afresh
        keys = [r.headers["idempotency-key"] for r in recipient.requests]
        stamps = [r.headers["x-referral-hub-timestamp"] for r in recipient.requests]
    assert first.delivered and second.delivered
    assert keys == ["ref-7f3a", "ref-7f3a"]
    assert stamps[0] != stamps[1]
    assert processed == [REFERRAL]


def test_a_recipient_down_for_n_requests_gets_it_on_attempt_n_plus_1():
    down_for = 4
    with recipient_server(lambda n, _r: Reply(503 if n < down_for else 200)) as recipient:
        async def retry_loop() -> tuple[list[Attempt], list[float]]:
            rng = random.Random(20261121)
            first_at = clock = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
            attempts: list[Attempt] = []
            delays: list[float] = []
            async with httpx.AsyncClient(trust_env=False) as client:
                for attempt_number in range(10):  # bounded, whatever happens
                    attempt = await deliver(client, recipient.url, [OLD], REFERRAL, "ref-7f3a",
                                            int(clock.timestamp()), timeout=2)
                    attempts.append(attempt)
                    if attempt.delivered:
                        break
                    delay = next_attempt_delay(attempt_number, rng)
                    assert 0 <= delay <= min(3600, 30 * 2 ** attempt_number)
                    delays.append(delay)
                    clock += timedelta(seconds=delay)  # computed, not slept
                    assert not gives_up(first_at, clock)
            return attempts, delays

        attempts, delays = asyncio.run(retry_loop())
        keys = {r.headers["idempotency-key"] for r in recipient.requests}
    assert [a.problem for a in attempts] == ["status 503"] * down_for + [None]
    assert attempts[-1] == Attempt(True, 200, None)
    assert len(recipient.requests) == down_for + 1
    assert keys == {"ref-7f3a"}
    assert len(delays) == down_for


# --- the retry schedule --------------------------------------------------------------------

@given(attempt_number=st.integers(0, 5000), seed=st.integers(0, 2**32),
       base=st.floats(0.001, 600), cap=st.floats(0.001, 86_400))
def test_every_delay_is_within_zero_and_the_capped_exponential(attempt_number, seed, base, cap):
    delay = next_attempt_delay(attempt_number, random.Random(seed), base, cap)
    assert 0 <= delay <= cap
    assert delay / base <= 2 ** attempt_number  # exact int comparison: no float overflow


def test_the_ceiling_doubles_from_the_base_until_the_cap():
    rng = random.Random(7)
    for attempt_number, ceiling in [(0, 30), (1, 60), (2, 120), (6, 1920), (7, 3600), (8, 3600)]:
        samples = [next_attempt_delay(attempt_number, rng) for _ in range(2000)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.95 * ceiling  # full jitter spans the whole range
        assert min(samples) < 0.05 * ceiling


@pytest.mark.parametrize("attempt_number", [11, 64, 1023, 1024, 10_000, 10**6])
def test_the_cap_holds_for_large_attempt_numbers(attempt_number):
    rng = random.Random(attempt_number)
    samples = [next_attempt_delay(attempt_number, rng) for _ in range(500)]
    assert all(0 <= s <= 3600 for s in samples)
    assert max(samples) > 3000


def test_the_schedule_is_reproducible_from_the_seed():
    first = [next_attempt_delay(n, random.Random(42)) for n in range(10)]
    again = [next_attempt_delay(n, random.Random(42)) for n in range(10)]
    assert first == again


@pytest.mark.parametrize("attempt_number", [-1, 1.0, True, "3"])
def test_the_attempt_number_is_a_non_negative_int(attempt_number):
    with pytest.raises(ValueError):
        next_attempt_delay(attempt_number, random.Random(0))


@pytest.mark.parametrize("base, cap", [(0, 3600), (30, 0), (-1, 3600), (float("nan"), 3600)])
def test_base_and_cap_must_be_positive(base, cap):
    with pytest.raises(ValueError):
        next_attempt_delay(0, random.Random(0), base, cap)


def test_it_gives_up_at_exactly_the_period():
    first = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert not gives_up(first, first)
    assert not gives_up(first, first + timedelta(hours=24) - timedelta(microseconds=1))
    assert gives_up(first, first + timedelta(hours=24))
    assert gives_up(first, first + timedelta(days=3))


def test_the_period_is_adjustable():
    first = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert not gives_up(first, first + timedelta(minutes=59), period=timedelta(hours=1))
    assert gives_up(first, first + timedelta(hours=1), period=timedelta(hours=1))


def test_giving_up_needs_timezone_aware_times():
    with pytest.raises(ValueError):
        gives_up(datetime(2026, 11, 21, 9, 0), datetime(2026, 11, 22, 9, 0, tzinfo=UTC))


def test_the_body_is_the_record_as_json_with_times_in_iso_8601():
    from datetime import UTC, date, datetime

    from referral_hub.services.notify.webhook import json_body
    body = json_body("recipient-risk", {"victim_safe_to_contact": False, "referral_id": "ref-1",
                                        "reported_at": datetime(2026, 11, 20, 22, 14, tzinfo=UTC),
                                        "victim": {"date_of_birth": date(1991, 3, 2)}})
    assert body == (b'{"record_type":"recipient-risk","referral":{"victim_safe_to_contact":false,'
                    b'"referral_id":"ref-1","reported_at":"2026-11-20T22:14:00+00:00",'
                    b'"victim":{"date_of_birth":"1991-03-02"}}}')
