"""A person id corrected takes the incident out of the pair history of the two people an
earlier version named (incident-notification.md, Amendments and withdrawals): a later
incident between those two, roles reversed, is no longer a possible counter-allegation
because of it, and names it no more. Offline here; the router's victim stage sends the
same departure to its pair stage (incidents.by-pair.v1, `departed`; PairHistory.letting_go)."""
import json

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.config import load_config
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import incident

CONFIG = load_config(REPO_ROOT / "config")
ANNE, BEN, CLARE = "MP-P-ANNE", "MP-P-BEN", "MP-P-CLARE"
ANNE_AND_BEN = f"merseyside:{ANNE}|{BEN}"  # their pair history's key (rules.pair_key)
FIRST = "merseyside/MP-1"
MEDIUM = {"tool": "DASH", "dash_yes_count": 11}


def first(version: int = 1, victim: str = BEN, perpetrator: str | None = ANNE, **changes) -> dict:
    """Anne abuses Ben (or whom a later version names instead)."""
    notification = incident(incident_id="MP-1", version=version, reported_at="2026-06-01T12:00:00Z",
                            occurred_at=None, children=[], victim__person_id=victim,
                            perpetrator__person_id=perpetrator, **({"risk": MEDIUM} | changes))
    if perpetrator is None:
        notification["perpetrator"] = None
    return notification


def later(victim: str = ANNE, perpetrator: str = BEN) -> dict:
    """A month on, Ben is recorded abusing Anne: roles reversed."""
    return incident(incident_id="MP-2", reported_at="2026-07-01T12:00:00Z", occurred_at=None,
                    children=[], victim__person_id=victim, perpetrator__person_id=perpetrator)


def route(router: OfflineRouter, notification: dict) -> list:
    return router.route(parse_incident(json.dumps(notification), CONFIG))


def linked(decisions: list) -> set[tuple[str, ...]]:
    """What the victim's referrals of the later incident say of a counter-allegation."""
    victim = [d for d in decisions if d.pathway in ("MARAC", "IDVA")]
    assert victim
    return {d.linked_incidents for d in victim if "possible_counter_allegation" in d.reasons}


@pytest.mark.parametrize("case, versions, flagged", [
    ("only version 1", [first()], True),
    ("amended, the same two people", [first(), first(2, risk={"tool": "DASH", "dash_yes_count": 15})], True),
    ("victim's id corrected", [first(), first(2, victim=CLARE)], False),
    ("victim's id corrected, versions the other way round", [first(2, victim=CLARE), first()], False),
    ("perpetrator's id corrected", [first(), first(2, perpetrator=CLARE)], False),
    ("perpetrator no longer named", [first(), first(2, perpetrator=None)], False),
    ("roles corrected: Ben abused Anne", [first(), first(2, victim=ANNE, perpetrator=BEN)], False),
    ("victim's id corrected, then back again", [first(), first(2, victim=CLARE), first(3)], True),
    ("withdrawn", [first(), first(2, status="withdrawn", withdrawal_reason="wrong_person")], False),
])
def test_a_later_reversed_incident_between_the_earlier_two_is_flagged_only_while_they_share_it(
        case, versions, flagged):
    router = OfflineRouter(CONFIG)
    for version in versions:
        route(router, version)
    assert linked(route(router, later())) == ({(FIRST,)} if flagged else set())


@pytest.mark.parametrize("corrected, victim, perpetrator", [
    (first(2, victim=CLARE), ANNE, CLARE),      # Clare was the victim: Clare against Anne now
    (first(2, perpetrator=CLARE), CLARE, BEN),  # Clare was the perpetrator: Ben against Clare now
])
def test_the_new_two_peoples_history_holds_the_incident(corrected, victim, perpetrator):
    router = OfflineRouter(CONFIG)
    route(router, first())
    route(router, corrected)
    assert linked(route(router, later(victim, perpetrator))) == {(FIRST,)}


def test_a_departure_processed_twice_changes_nothing():
    router = OfflineRouter(CONFIG)
    route(router, first())
    corrected = parse_incident(json.dumps(first(2, victim=CLARE)), CONFIG)
    router.route(corrected)
    pairs = dict(router.pairs)
    router.pair_lets_go(ANNE_AND_BEN, corrected)
    assert router.pairs == pairs
    assert router.route(corrected) == []  # the correction sent again: stale


def test_a_departure_replayed_after_the_incident_named_the_two_again_keeps_it():
    """v3 names Ben again; the departure v2 caused, processed again after it (a restart),
    must not take v3 out of Anne and Ben's history."""
    router = OfflineRouter(CONFIG)
    corrected = parse_incident(json.dumps(first(2, victim=CLARE)), CONFIG)
    for version in (first(), first(2, victim=CLARE), first(3)):
        route(router, version)
    router.pair_lets_go(ANNE_AND_BEN, corrected)
    assert linked(route(router, later())) == {(FIRST,)}
