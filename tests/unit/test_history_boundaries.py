"""What the histories remember, at their edges: a withdrawn incident in the perpetrator's and
the pair's history, the nearest of two earlier counter-allegations, a redelivered version
at the pair stage, and an area whose windows are longer than its force's out-of-area area's
(spec: pathways.md, History; incident-notification.md, Amendments and withdrawals)."""
import json
import shutil
from datetime import datetime, timedelta

import pytest

from referral_hub.commands.route import OfflineRouter
from referral_hub.config import load_config
from referral_hub.core.history import PairHistory
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import incident

MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
KNOWSLEY = "E08000011"  # an area with a MATAC
START = datetime.fromisoformat("2025-06-02T12:00:00+00:00")


def notification(number: int, days: int, victim: str, perpetrator: str, area: str = KNOWSLEY, **changes) -> dict:
    return incident(**{"incident_id": f"MP-{number}",
                       "reported_at": (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "occurred_at": None, "risk": MEDIUM, "children": [], "local_authority": area,
                       "victim__person_id": victim, "perpetrator__person_id": perpetrator} | changes)


def withdrawn(notification_: dict) -> dict:
    return notification_ | {"version": 2, "status": "withdrawn", "withdrawal_reason": "sent_in_error"}


def route(config, *notifications) -> list[list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]]:
    """(action, pathway, reasons, related incidents) per notification, routed in order."""
    router = OfflineRouter(config)
    return [[(d.action, d.pathway, d.reasons, d.linked_incidents)
             for d in router.route(parse_incident(json.dumps(n), config))] for n in notifications]


@pytest.mark.parametrize("withdraw_first, matac", [(False, True), (True, False)])
def test_a_withdrawn_incident_no_longer_makes_its_perpetrator_serial(config, withdraw_first, matac):
    """The same perpetrator against two victims is serial; once the first incident is
    withdrawn, the second victim is his only one."""
    first = notification(1, 0, "P-V1", "P-SERIAL")
    sequence = [first, withdrawn(first)] if withdraw_first else [first]
    *_, last = route(config, *sequence, notification(2, 30, "P-V2", "P-SERIAL"))
    assert any(pathway == "MATAC" for _, pathway, *_ in last) == matac


@pytest.mark.parametrize("withdraw_first, flagged", [(False, True), (True, False)])
def test_a_withdrawn_incident_is_no_counter_allegation(config, withdraw_first, flagged):
    first = notification(1, 0, "P-BEN", "P-ANNE")
    sequence = [first, withdrawn(first)] if withdraw_first else [first]
    *_, last = route(config, *sequence, notification(2, 20, "P-ANNE", "P-BEN"))
    [community_advocacy] = [a for a in last if a[1] == "COMMUNITY_ADVOCACY"]
    assert ("possible_counter_allegation" in community_advocacy[2]) == flagged
    assert community_advocacy[3] == (("merseyside/MP-1",) if flagged else ())


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_of_two_earlier_reversed_incidents_the_nearest_is_named(config, order):
    """Ben was recorded abusing Anne 100 and 10 days before Anne abuses Ben (whichever
    reached the hub first): the warning names the nearer one."""
    earlier = {1: notification(1, 0, "P-ANNE", "P-BEN"), 2: notification(2, 90, "P-ANNE", "P-BEN")}
    *_, last = route(config, *(earlier[n] for n in order), notification(3, 100, "P-BEN", "P-ANNE"))
    assert [a[3] for a in last if a[1] == "COMMUNITY_ADVOCACY"] == [("merseyside/MP-2",)]


def test_the_pair_stage_knows_a_redelivered_version_and_a_newer_one(config):
    """The streaming router's pair stage skips a version it recorded already (a redelivery
    after a restart publishes nothing twice) and decides a higher one."""
    second = parse_incident(json.dumps(notification(1, 0, "P-BEN", "P-ANNE", version=2)), config)
    history = PairHistory().recording(second, PairHistory.remembered(second, []), config)
    third = parse_incident(json.dumps(notification(1, 0, "P-BEN", "P-ANNE", version=3)), config)
    assert history.is_stale(second) and not history.is_stale(third)


@pytest.fixture(scope="module")
def long_memory(tmp_path_factory):
    """Knowsley looking back 2000 days for escalation; its force's out-of-area rules (Halton's)
    look back 3 x 366 days at most."""
    copy = tmp_path_factory.mktemp("config") / "c"
    shutil.copytree(REPO_ROOT / "config", copy)
    area = copy / "areas" / "knowsley.toml"
    area.write_text(area.read_text().replace("escalation_days = 365", "escalation_days = 2000"))
    return load_config(copy)


def test_history_keeps_what_the_victims_own_area_looks_back_to(long_memory):
    assert long_memory.areas[KNOWSLEY].windows.escalation_days == 2000
    *_, third = route(long_memory, *(notification(n, days, "P-V1", f"P-{n}")
                                     for n, days in ((1, 0), (2, 1200), (3, 1500))))
    assert [(pathway, reasons) for _, pathway, reasons, _ in third if pathway == "MARAC"] == [
        ("MARAC", ("potential_escalation",))]
