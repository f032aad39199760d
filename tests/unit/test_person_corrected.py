"""A victim's or a perpetrator's person id corrected by a later version (incident-notification.md,
Amendments and withdrawals): the referrals whose subject is gone are recalled (subject_removed),
the new person gets theirs, and the incident leaves the earlier person's history. Offline here;
the router runs the same core (revisions.claimed and depart_victim) in its incident stage."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_hub.commands.route import OfflineRouter
from referral_hub.config import load_config
from referral_hub.core.incident import Incident
from referral_hub.core.revisions import LastVersion, claimed
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import incident

CONFIG = load_config(REPO_ROOT / "config")
OLD, NEW = "MP-P-88123", "MP-P-88124"  # the example's victim, and the corrected id
CHILD = "MP-P-90001"
REFERENCE = "merseyside/MP-2026-0004711"
MEDIUM = {"tool": "DASH", "dash_yes_count": 11, "officer_grade": "medium"}


def routed(*notifications) -> tuple[OfflineRouter, list[list[tuple[str, str, str, tuple[str, ...]]]]]:
    """The router after the notifications, and (action, pathway, subject, reasons) per notification."""
    router = OfflineRouter(CONFIG)
    return router, [[(d.action, d.pathway, d.subject_id, d.reasons)
                     for d in router.route(parse_incident(json.dumps(n), CONFIG))] for n in notifications]


def held_by(router: OfflineRouter, kind: str) -> dict[str, bool]:
    histories = router.victims if kind == "victim" else router.perpetrators
    return {key.split(":")[1]: history.has(REFERENCE) for key, history in histories.items()}


CORRECTED = incident(version=2, victim__person_id=NEW)


@pytest.mark.parametrize("order, last_actions", [
    # in order: the new victim's referrals, the child's again (same id), the old victim's recalled
    ("v1 then v2", [("refer", "MARAC", NEW, ("visible_high_risk",)), ("refer", "IDVA", NEW, ("visible_high_risk",)),
                    ("refer", "ENCOMPASS", CHILD, ("child_present", "child_resident")),
                    ("refer", "MASH_IDVA", NEW, ("children_in_household",)),
                    ("recall", "MARAC", OLD, ("subject_removed",)), ("recall", "IDVA", OLD, ("subject_removed",)),
                    ("recall", "MASH_IDVA", OLD, ("subject_removed",))]),
    # v1 after v2 (streaming: they are on two victims' partitions): made, then recalled at once
    ("v2 then v1", [("refer", "MARAC", OLD, ("visible_high_risk",)), ("refer", "IDVA", OLD, ("visible_high_risk",)),
                    ("refer", "ENCOMPASS", CHILD, ("child_present", "child_resident")),
                    ("refer", "MASH_IDVA", OLD, ("children_in_household",)),
                    ("recall", "MARAC", OLD, ("subject_removed",)), ("recall", "IDVA", OLD, ("subject_removed",)),
                    ("recall", "MASH_IDVA", OLD, ("subject_removed",))]),
])
def test_a_corrected_victim_id_recalls_the_old_victims_referrals_in_either_order(order, last_actions):
    versions = [incident(), CORRECTED]
    router, actions = routed(*(versions if order == "v1 then v2" else versions[::-1]))
    assert actions[-1] == last_actions
    assert held_by(router, "victim") == {OLD: False, NEW: True}


def test_the_new_victims_referrals_are_due_from_the_sending_and_the_childs_keeps_its_due():
    router = OfflineRouter(CONFIG)
    first = {d.pathway: d for d in router.route(parse_incident(json.dumps(incident()), CONFIG))}
    corrected = {(d.action, d.pathway): d for d in router.route(parse_incident(json.dumps(
        CORRECTED | {"sent_at": "2026-11-24T10:00:00Z"}), CONFIG))}
    assert corrected["refer", "MARAC"].due_at.isoformat() == "2026-11-25T09:00:00+00:00"  # a working day on
    assert corrected["refer", "ENCOMPASS"].due_at == first["ENCOMPASS"].due_at


def test_a_corrected_victim_id_sent_again_changes_nothing():
    _, actions = routed(incident(), CORRECTED, CORRECTED)
    assert actions[2] == []


def test_a_correction_then_a_withdrawal_naming_either_victim_recalls_everything_live():
    withdrawn = {"version": 3, "status": "withdrawn", "withdrawal_reason": "wrong_person"}
    for victim in (OLD, NEW):
        router, actions = routed(incident(), CORRECTED, incident(victim__person_id=victim, **withdrawn))
        recalled = sorted((a[1], a[2]) for a in actions[2] if a[0] == "recall")
        assert recalled == [("ENCOMPASS", CHILD), ("IDVA", NEW), ("MARAC", NEW), ("MASH_IDVA", NEW)], victim
        assert {a[3] for a in actions[2] if a[0] == "recall"} == {("wrong_person",)}
        assert not any(REFERENCE in {p.reference for p in history.counted} for history in router.victims.values())


def test_the_incident_no_longer_counts_in_the_old_victims_history():
    """Three medium incidents in a year escalate to MARAC; the second was not this victim's."""
    first = incident(incident_id="MP-E-1", reported_at="2026-01-04T10:00:00Z", risk=MEDIUM, children=[])
    second = first | {"incident_id": "MP-E-2", "reported_at": "2026-03-04T10:00:00Z"}
    moved = second | {"version": 2, "victim": second["victim"] | {"person_id": NEW}}
    third = first | {"incident_id": "MP-E-3", "reported_at": "2026-06-04T10:00:00Z"}
    _, actions = routed(first, second, moved, third)
    assert [a[1] for a in actions[3]] == ["COMMUNITY_ADVOCACY"]  # two incidents in 365 days, not three
    _, unmoved = routed(first, second, third)
    assert {a[1] for a in unmoved[2]} == {"MARAC", "IDVA"}  # the same without the correction


@pytest.mark.parametrize("change, recalled_matac_of", [
    ({"perpetrator__person_id": "MP-P-40008"}, "MP-P-40007"),
    ({"perpetrator__person_id": "MP-P-40008", "victim__person_id": NEW}, "MP-P-40007"),
])
def test_a_corrected_perpetrator_id_leaves_the_old_perpetrators_history(change, recalled_matac_of):
    """Knowsley has a MATAC: a perpetrator with two victims in three years is referred."""
    knowsley = {"local_authority": "E08000011", "children": []}
    earlier = incident(incident_id="MP-K-1", reported_at="2026-05-01T10:00:00Z",
                       victim__person_id="MP-P-77001", **knowsley)
    router, actions = routed(earlier, incident(**knowsley), incident(version=2, **knowsley, **change))
    assert ("MATAC", "MP-P-40007") in {(a[1], a[2]) for a in actions[1] if a[0] == "refer"}
    assert ("recall", "MATAC", recalled_matac_of, ("subject_removed",)) in actions[2]
    assert held_by(router, "perpetrator") == {"MP-P-40007": False, "MP-P-40008": True}


def _version(version: int, victim: str) -> Incident:
    return parse_incident(json.dumps(incident(version=version, victim__person_id=victim)), CONFIG)


@pytest.mark.parametrize("last, arriving, departs_from, governing", [
    (None, (1, OLD), None, None),                      # first sighting
    ((1, OLD), (2, OLD), None, None),                  # same victim
    ((1, OLD), (2, NEW), OLD, 2),                      # corrected: the old victim lets it go
    ((2, NEW), (1, OLD), OLD, 2),                      # the older version late: it goes at once
    ((2, NEW), (2, OLD), None, None),                  # same version, another victim: the first stands
    ((3, OLD), (2, OLD), None, None),                  # a lower version, same victim: stale anyway
])
def test_which_history_lets_an_incident_go(last, arriving, departs_from, governing):
    recorded = None if last is None else LastVersion(f"merseyside:{last[1]}", last[0],
                                                     _version(*last).model_dump_json())
    now, departure = claimed(_version(*arriving), recorded)
    assert now.version == max(arriving[0], last[0] if last else 0)
    if departs_from is None:
        assert departure is None
    else:
        assert (departure[0], departure[1].version) == (f"merseyside:{departs_from}", governing)


@settings(max_examples=100, deadline=None)
@given(victims=st.lists(st.sampled_from([OLD, NEW, "MP-P-88125"]), min_size=1, max_size=4),
       with_child=st.lists(st.booleans(), min_size=4, max_size=4), order=st.randoms(use_true_random=False))
def test_any_order_of_versions_naming_any_victims_leaves_the_last_versions_referrals_live(victims, with_child, order):
    """Whatever victims the versions name, and in whatever order they arrive (the router sees
    two victims' versions on two partitions), what stays live is what the highest version
    alone makes (and what stands with no_longer_met, the facts having changed)."""
    versions = [incident(version=n, victim__person_id=victim, children=incident()["children"] * with_child[n - 1])
                for n, victim in enumerate(victims, start=1)]
    arriving = order.sample(versions, len(versions))
    router = OfflineRouter(CONFIG)
    last: dict[str, tuple[str, tuple[str, ...]]] = {}
    for notification in arriving:
        for decision in router.route(parse_incident(json.dumps(notification), CONFIG)):
            last[decision.referral_id] = (decision.action, decision.reasons)
    alone = OfflineRouter(CONFIG).route(parse_incident(json.dumps(versions[-1]), CONFIG))
    live = {ref for ref, (action, reasons) in last.items() if action != "recall" and reasons != ("no_longer_met",)}
    assert live == {d.referral_id for d in alone}
    holders = [key for key, history in router.victims.items() if history.has(REFERENCE)]
    assert holders == [f"merseyside:{victims[-1]}"]
