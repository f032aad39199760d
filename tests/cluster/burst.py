"""A burst of synthetic incidents over both ingests, and the check that each accepted one
has exactly the referrals `referral-hub route` computes, each delivered, none twice.

Each victim has one to three incidents, sent in order, each only after the previous one
was accepted: the order the offline router reads them in. Victims share no perpetrator, so
no history spans two victims and the senders may interleave victims freely.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from referral_hub.config import HubConfig
from referral_hub.commands.demo import DEMO_API_KEYS
from referral_hub.commands.route import OfflineRouter
from referral_hub.core.validation import parse_incident
from referral_hub.services.notify.sample_receiver import SampleReceiver
from tests.factories import incident

AREAS = {"E08000014": "merseyside", "E08000011": "merseyside", "E08000013": "merseyside",
         "E06000006": "cheshire"}
RISKS = ({"tool": "DASH", "dash_yes_count": 15, "officer_grade": "high", "professional_judgement": False},
         {"tool": "DASH", "dash_yes_count": 11, "officer_grade": "medium", "professional_judgement": False},
         {"tool": "DASH", "dash_yes_count": 4, "officer_grade": "standard", "professional_judgement": False})
SENDERS = 6  # concurrent police systems


def incidents(tag: str, count: int, seed: int) -> list[list[dict]]:
    """`count` incidents as a list per victim, in the order each victim's are sent."""
    chance = random.Random(seed)
    victims, made = [], 0
    for number in itertools.count():
        if made >= count:
            return victims
        area = chance.choice(list(AREAS))
        ids = {"victim__person_id": f"CT-V-{tag}-{number}", "perpetrator__person_id": f"CT-P-{tag}-{number}",
               "local_authority": area, "force": AREAS[area]}
        children = [] if chance.random() < 0.5 else None  # None: the example's child, at school
        own = []
        for order in range(min(chance.randint(1, 3), count - made)):
            changes = ids | {"incident_id": f"CT-{tag}-{number}-{order}", "risk": chance.choice(RISKS),
                             "reported_at": f"2026-11-20T{10 + 3 * order:02d}:00:00Z",
                             "occurred_at": f"2026-11-20T{9 + 3 * order:02d}:30:00Z"}
            own.append(incident(**changes | ({"children": children} if children is not None else {})))
        victims.append(own)
        made += len(own)


def expected_referrals(victims: list[list[dict]], config: HubConfig) -> set[str]:
    router = OfflineRouter(config)
    return {decision.referral_id for own in victims for notification in own
            for decision in router.route(parse_incident(json.dumps(notification), config))}


@dataclass
class Burst:
    """Sends every victim's incidents over the ingests, each until accepted (202): a 503,
    a refused connection (an ingest restarting) or a timeout is sent again, as a police
    system would, to the other ingest."""
    ingests: list[str]
    tag: str
    victims: list[list[dict]]
    accepted: int = 0
    answers: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """Of the incident ids of this burst (see incidents())."""
        return f"CT-{self.tag}-"

    def start(self) -> "Burst":
        shares = [self.victims[n::SENDERS] for n in range(SENDERS)]
        self._threads = [threading.Thread(target=self._send, args=(share, n), daemon=True)
                         for n, share in enumerate(shares)]
        for thread in self._threads:
            thread.start()
        return self

    def wait_until_accepted(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted < count and self.running():
            assert time.monotonic() < deadline, f"only {self.accepted} of {count} accepted"
            time.sleep(0.1)

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def finish(self, timeout: float = 900) -> None:
        for thread in self._threads:
            thread.join(timeout)
        assert not self.running(), f"the burst did not finish in {timeout:.0f}s"

    def _send(self, share: list[list[dict]], sender: int) -> None:
        turn = sender
        with httpx.Client(timeout=30) as client:
            for own in share:
                for notification in own:
                    while (answer := self._post(client, self.ingests[turn % len(self.ingests)],
                                                notification)) != 202:
                        assert answer in (503, "unreachable", "timeout"), f"ingest answered {answer}"
                        turn += 1
                        time.sleep(0.5)
                    turn += 1

    def _post(self, client: httpx.Client, ingest: str, notification: dict) -> int | str:
        try:
            answer = client.post(f"{ingest}/v1/incidents", content=json.dumps(notification), headers={
                "Authorization": f"Bearer {DEMO_API_KEYS[notification['force']]}",
                "Content-Type": "application/json"}).status_code
        except httpx.TimeoutException:
            answer = "timeout"
        except httpx.TransportError:
            answer = "unreachable"
        with self._lock:
            self.answers[answer] += 1
            self.accepted += answer == 202
        return answer


@dataclass
class Outcome:
    accepted: int
    expected: set[str]
    found: set[str]
    delivered: set[str]
    webhook_deliveries: Counter
    webhook_bodies: dict[str, set[str]]  # each referral's distinct bodies, as POSTed

    @property
    def missing(self) -> set[str]:
        return self.expected - self.found

    @property
    def undelivered(self) -> set[str]:
        return self.expected - self.delivered

    @property
    def unexpected(self) -> set[str]:
        return self.found - self.expected

    @property
    def duplicated(self) -> list[str]:
        return [referral for referral, times in self.webhook_deliveries.items() if times > 1]

    @property
    def conflicting(self) -> list[str]:
        """Referrals POSTed again with another body under the same Idempotency-Key: a
        recipient dropping repeats by key, as it must, would keep the wrong one."""
        return [referral for referral, bodies in self.webhook_bodies.items() if len(bodies) > 1]

    def line(self, name: str, burst: Burst, seconds: float) -> str:
        return (f"{name}: accepted {self.accepted}, expected {len(self.expected)}, found {len(self.found)}, "
                f"missing {len(self.missing)}, unexpected {len(self.unexpected)}, "
                f"delivered {len(self.delivered & self.expected)}, undelivered {len(self.undelivered)}, "
                f"duplicated (webhook) {len(self.duplicated)}; answers {dict(burst.answers)}; "
                f"{seconds:.0f} s from first send to the last delivery")


def outcome(burst: Burst, expected: set[str], referrals, contacts, receiver: SampleReceiver,
            webhook_recipients: tuple[str, ...], timeout: float = 600) -> Outcome:
    """Read referrals.v1 and contacts.v1 until every expected referral is there and delivered
    (or the time is up), then what was found."""
    def found() -> set[str]:
        return {r["referral_id"] for r in referrals.values() if r["incident_id"].startswith(burst.prefix)}

    def delivered() -> set[str]:
        return {c["referral_id"] for c in contacts.values(type="delivered")}

    for reader, done in ((referrals, lambda: expected <= found()), (contacts, lambda: expected <= delivered())):
        try:
            reader.wait_for(lambda _: done(), "every expected referral", timeout=timeout)
        except AssertionError:
            pass  # counted below
    accepted = [request for recipient in webhook_recipients
                for request in receiver.received(recipient, "accept") if request.idempotency_key in expected]
    bodies: dict[str, set[str]] = {}
    for request in accepted:
        bodies.setdefault(request.idempotency_key, set()).add(json.dumps(request.body, sort_keys=True))
    return Outcome(burst.accepted, expected, found(), delivered(),
                   Counter(request.idempotency_key for request in accepted), bodies)
