"""The history the router keeps, built from its own decisions (`recording`, `remembered`), not
written by hand: which incidents went to MARAC or MATAC, what a replay changes (nothing),
and what is forgotten."""
import json
from dataclasses import replace
from datetime import datetime, timedelta

from referral_hub.commands.route import OfflineRouter
from referral_hub.core.history import PerpetratorIncident, PriorIncident, VictimHistory
from referral_hub.core.validation import parse_incident
from tests.factories import incident

START = datetime.fromisoformat("2025-01-06T10:00:00+00:00")
HIGH = {"tool": "DASH", "dash_yes_count": 15}
MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
KNOWSLEY = "E08000011"  # an area with a MATAC (St Helens has none)


def report(config, number: int, days: int, risk=MEDIUM, victim: str = "V1", perpetrator: str = "P1",
           area: str = "E08000013"):
    """Incident `number`, reported `days` after START, with its own id."""
    notification = incident(incident_id=f"MP-H-{number}", reported_at=(START + timedelta(days=days)).isoformat(),
                            occurred_at=None, risk=risk, local_authority=area, victim__person_id=victim,
                            perpetrator__person_id=perpetrator, children=[])
    return parse_incident(json.dumps(notification), config)


def pathways(decisions) -> list[str]:
    return [d.pathway for d in decisions]


def remembered(incidents) -> tuple:
    """The remembered incidents as the rules count them, without what each one sent."""
    return tuple(replace(p, sent=(), notification="") for p in incidents)


def test_a_marac_referral_is_remembered_and_makes_the_next_incident_repeat_marac(config):
    router = OfflineRouter(config)
    assert "MARAC" in pathways(router.route(report(config, 1, 0, risk=HIGH)))
    [marac] = [d for d in router.route(report(config, 2, 100)) if d.pathway == "MARAC"]
    assert marac.reasons == ("repeat_marac",)
    assert remembered(router.victims["merseyside:V1"].incidents) == (
        PriorIncident("merseyside/MP-H-1", START, True),
        PriorIncident("merseyside/MP-H-2", START + timedelta(days=100), True))


def test_an_incident_that_did_not_go_to_marac_is_remembered_as_such(config):
    router = OfflineRouter(config)
    assert pathways(router.route(report(config, 1, 0))) == ["COMMUNITY_ADVOCACY"]
    assert pathways(router.route(report(config, 2, 100))) == ["COMMUNITY_ADVOCACY"]
    assert [p.referred_to_marac for p in router.victims["merseyside:V1"].incidents] == [False, False]
    assert "MARAC" in pathways(router.route(report(config, 3, 200)))  # the third: escalation


def test_a_matac_referral_is_remembered_and_blocks_another_for_12_months(config):
    router = OfflineRouter(config)
    router.route(report(config, 1, 0, victim="V1", area=KNOWSLEY))
    assert "MATAC" in pathways(router.route(report(config, 2, 30, victim="V2", area=KNOWSLEY)))
    assert "MATAC" not in pathways(router.route(report(config, 3, 60, victim="V3", area=KNOWSLEY)))
    assert "MATAC" in pathways(router.route(report(config, 4, 30 + 366, victim="V4", area=KNOWSLEY)))
    assert remembered(router.perpetrators["merseyside:P1"].incidents[:2]) == (
        PerpetratorIncident("merseyside/MP-H-1", "merseyside:V1", START, False),
        PerpetratorIncident("merseyside/MP-H-2", "merseyside:V2", START + timedelta(days=30), True))


def test_a_replay_in_the_middle_of_a_sequence_counts_once(config):
    """Incident 1, another victim's, incident 1 again, then incident 2: the second incident of
    this victim, not the third; incident 3 is the third."""
    router = OfflineRouter(config)
    first = report(config, 1, 0)
    assert router.route(first)
    assert router.route(report(config, 90, 10, victim="V9", perpetrator="P9"))
    assert router.route(first) == []
    assert pathways(router.route(report(config, 2, 100))) == ["COMMUNITY_ADVOCACY"]
    [marac] = [d for d in router.route(report(config, 3, 150)) if d.pathway == "MARAC"]
    assert marac.explanation[0] == ("potential_escalation: third incident in 365 days: "
                                    "2025-01-06, 2025-04-16, 2025-06-05")


def test_a_replay_to_the_perpetrators_history_decides_nothing_again(config):
    """Incident 1 (victim 1), then 400 days later incident 2 (victim 2) goes to MATAC; incident
    1 replayed would see victim 2 and no MATAC referral in the 12 months around its own date."""
    router = OfflineRouter(config)
    first = report(config, 1, 0, victim="V1", area=KNOWSLEY)
    router.route(first)
    assert "MATAC" in pathways(router.route(report(config, 2, 400, victim="V2", area=KNOWSLEY)))
    assert router.route(first) == []


def test_a_replay_changes_neither_history(config):
    router = OfflineRouter(config)
    first = report(config, 1, 0)
    router.route(first)
    victims, perpetrators = dict(router.victims), dict(router.perpetrators)
    router.route(first)
    assert (router.victims, router.perpetrators) == (victims, perpetrators)


def test_a_replay_to_another_victims_history_is_a_new_incident(config):
    """The reference is the force and incident id: one victim's replay check is not another's."""
    history = VictimHistory((PriorIncident("merseyside/MP-H-9", START, False),))
    assert not history.has("merseyside/MP-H-1") and history.has("merseyside/MP-H-9")


def test_history_forgets_what_no_window_reaches(config):
    """The longest window of St Helens is 3 x 366 days, counted back from the newest incident."""
    kept = config.areas["E08000013"].windows.longest_days
    history = VictimHistory((PriorIncident("merseyside/OLD", START - timedelta(days=kept + 1), False),
                             PriorIncident("merseyside/EDGE", START - timedelta(days=kept), False)))
    new = report(config, 1, 0)
    after = history.recording(new, VictimHistory.remembered(new, []), config)
    assert [p.reference for p in after.incidents] == ["merseyside/EDGE", "merseyside/MP-H-1"]


def test_history_keeps_what_a_late_incident_does_not_push_out(config):
    """An incident arriving late is older than the newest: the window counts from the newest."""
    history = VictimHistory((PriorIncident("merseyside/NEW", START + timedelta(days=1000), False),))
    new = report(config, 1, 0)
    after = history.recording(new, VictimHistory.remembered(new, []), config)
    assert [p.reference for p in after.incidents] == ["merseyside/NEW", "merseyside/MP-H-1"]
