"""Versions and withdrawals (incident-notification.md, Amendments and withdrawals): what a
second notification of the same incident does, offline and (the same code) streaming."""
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_hub.commands.route import OfflineRouter, routed_lines
from referral_hub.config import load_config
from referral_hub.core.rules import Decision
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import child, incident

CONFIG = load_config(REPO_ROOT / "config")
MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
HIGH = {"tool": "DASH", "dash_yes_count": 15}


def route(*notifications) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    """(action, pathway, reasons) per notification, routed in order."""
    router = OfflineRouter(CONFIG)
    return [[(d.action, d.pathway, d.reasons) for d in
             router.route(parse_incident(json.dumps(n), CONFIG))] for n in notifications]


def test_a_regrade_to_high_reaches_marac_due_from_when_it_was_sent():
    first, second = route(incident(risk=MEDIUM, children=[]),
                          incident(risk=HIGH, children=[], version=2, sent_at="2026-11-23T11:00:00Z"))
    assert first == [("refer", "COMMUNITY_ADVOCACY", ("medium_risk",))]
    assert second == [("refer", "MARAC", ("visible_high_risk",)), ("refer", "IDVA", ("visible_high_risk",)),
                      ("amend", "COMMUNITY_ADVOCACY", ("no_longer_met",))]
    router = OfflineRouter(CONFIG)
    router.route(parse_incident(json.dumps(incident(risk=MEDIUM, children=[])), CONFIG))
    [marac, *_] = router.route(parse_incident(json.dumps(incident(
        risk=HIGH, children=[], version=2, sent_at="2026-11-23T11:00:00Z")), CONFIG))
    assert marac.due_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a working day after sent_at


@pytest.mark.parametrize("version, changes", [(1, "nothing: same version"), (0, None)])
def test_the_same_or_a_lower_version_changes_nothing_and_is_a_data_problem(version, changes):
    lines = [json.dumps(incident(version=2)),
             json.dumps(incident(version=version or 1, risk=MEDIUM))]
    results = list(routed_lines(lines, CONFIG))
    assert results[1][1].actions == []
    assert [(p.path, p.problem) for p in results[1][1].data_problems] == [("version", "stale")]


def test_an_unchanged_higher_version_sends_nothing():
    assert route(incident(), incident(version=2))[1] == []


def test_a_higher_version_that_changes_a_record_amends_it_with_the_same_id_and_due():
    router = OfflineRouter(CONFIG)
    before = router.route(parse_incident(json.dumps(incident()), CONFIG))
    after = router.route(parse_incident(json.dumps(incident(
        version=2, victim__contact__phone="07700900999", sent_at="2026-11-24T10:00:00Z")), CONFIG))
    amended = {d.pathway: d for d in after}
    assert set(amended) == {"MARAC", "IDVA", "MASH_IDVA"}  # the school is not sent the phone
    for earlier in before:
        if earlier.pathway in amended:
            assert amended[earlier.pathway].action == "amend"
            assert (amended[earlier.pathway].referral_id, amended[earlier.pathway].due_at) == \
                (earlier.referral_id, earlier.due_at)


def test_a_child_removed_is_recalled_and_a_child_added_is_referred():
    _, second = route(incident(), incident(version=2, children=[child()]))
    assert ("recall", "ENCOMPASS", ("subject_removed",)) in second
    assert ("refer", "ENCOMPASS", ("child_present", "child_resident")) in second


def test_a_withdrawal_recalls_everything_and_leaves_the_history():
    lines = [incident(incident_id="MP-1", reported_at="2026-01-05T10:00:00Z", occurred_at=None,
                      risk=MEDIUM, children=[]),
             incident(incident_id="MP-2", reported_at="2026-02-05T10:00:00Z", occurred_at=None,
                      risk=MEDIUM, children=[]),
             incident(incident_id="MP-2", reported_at="2026-02-05T10:00:00Z", occurred_at=None,
                      risk=MEDIUM, children=[], version=2, status="withdrawn",
                      withdrawal_reason="sent_in_error"),
             incident(incident_id="MP-3", reported_at="2026-03-05T10:00:00Z", occurred_at=None,
                      risk=MEDIUM, children=[])]
    results = route(*lines)
    assert results[2] == [("recall", "COMMUNITY_ADVOCACY", ("sent_in_error",))]
    # Only two incidents count now: no potential escalation for the third.
    assert results[3] == [("refer", "COMMUNITY_ADVOCACY", ("medium_risk",))]


def test_any_version_after_a_withdrawal_is_stale_and_a_first_sighting_withdrawn_makes_nothing():
    withdrawn = incident(status="withdrawn", withdrawal_reason="wrong_person")
    assert route(withdrawn, incident(version=2)) == [[], []]


def test_a_referral_of_another_incident_stands_after_a_withdrawal():
    results = route(incident(incident_id="MP-1"), incident(incident_id="MP-2", risk=MEDIUM),
                    incident(incident_id="MP-2", risk=MEDIUM, version=2, status="withdrawn",
                             withdrawal_reason="duplicate_of_another_incident"))
    assert {action for action, *_ in results[2]} == {"recall"}
    assert len(results[2]) == len(results[1])


VERSIONS = st.lists(st.fixed_dictionaries({
    "dash": st.integers(0, 27), "consent": st.booleans(),
    "children": st.lists(st.sampled_from(["MP-P-90001", "MP-P-90002", "MP-P-90003"]), unique=True,
                         max_size=3)}), min_size=1, max_size=4)


def version(number: int, facts: dict) -> dict:
    return incident(version=number, risk={"tool": "DASH", "dash_yes_count": facts["dash"]},
                    consent_to_share=facts["consent"],
                    children=[child(person_id=c) for c in facts["children"]])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VERSIONS)
def test_any_sequence_of_versions_ends_with_the_live_referrals_of_the_last_alone(versions):
    """Routing every version leaves live exactly the referrals of the last version routed
    alone, plus those that stand (no_longer_met), less the recalled ones; a standing MARAC
    referral keeps out community advocacy, as the spec says."""
    router = OfflineRouter(CONFIG)
    live: dict[str, Decision] = {}
    for number, facts in enumerate(versions, start=1):
        for action in router.route(parse_incident(json.dumps(version(number, facts)), CONFIG)):
            if action.action == "recall":
                del live[action.referral_id]
            else:
                live[action.referral_id] = action
    alone = {d.referral_id: d for d in
             OfflineRouter(CONFIG).route(parse_incident(json.dumps(version(1, versions[-1])), CONFIG))}
    standing = {rid for rid, d in live.items() if d.reasons == ("no_longer_met",)}
    marac_stands = any(live[rid].pathway == "MARAC" for rid in standing)
    kept_out = {rid for rid, d in alone.items() if marac_stands and d.pathway in ("COMMUNITY_ADVOCACY", "YOUNG_PEOPLE")
                and rid not in live}
    assert set(live) - standing == set(alone) - kept_out
    for rid in set(live) - standing:  # and each says what the last version says
        assert (live[rid].recipient, live[rid].reasons) == (alone[rid].recipient, alone[rid].reasons)


def test_a_victim_living_outside_the_partnership_goes_to_the_forces_out_of_area_contact():
    [actions] = route(incident(local_authority="E08000012"))
    assert ("refer", "ENCOMPASS", ("child_present", "child_resident")) in actions  # a school in the directory
    [out_of_area] = [a for a in actions if a[1] == "OUT_OF_AREA"]
    assert out_of_area[2] == ("outside_partnership", "visible_high_risk", "children_in_household")
    assert {a[1] for a in actions} == {"ENCOMPASS", "OUT_OF_AREA"}


def test_an_area_corrected_to_outside_the_partnership_recalls_and_refers_anew():
    _, second = route(incident(children=[]), incident(children=[], local_authority="E08000012", version=2))
    assert ("recall", "MARAC", ("recipient_changed",)) in second
    assert [a for a in second if a[0] == "refer"] == [
        ("refer", "OUT_OF_AREA", ("outside_partnership", "visible_high_risk"))]


def test_a_force_without_an_out_of_area_contact_refuses_an_area_it_does_not_serve(tmp_path):
    import shutil
    from referral_hub.core.validation import Refused
    shutil.copytree(REPO_ROOT / "config", tmp_path / "c")
    hub = tmp_path / "c" / "hub.toml"
    hub.write_text(hub.read_text().split("# Victims who live outside")[0])
    config = load_config(tmp_path / "c")
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(incident(local_authority="E08000012")), config)
    assert [p.path for p in refused.value.problems] == ["local_authority"]


def test_an_out_of_area_configuration_naming_no_configured_area_stops_the_start(tmp_path):
    import shutil
    from referral_hub.config import ConfigError
    shutil.copytree(REPO_ROOT / "config", tmp_path / "c")
    hub = tmp_path / "c" / "hub.toml"
    hub.write_text(hub.read_text().replace('rules_of = "E06000006"', 'rules_of = "E08000012"'))
    with pytest.raises(ConfigError, match="out_of_area.rules_of"):
        load_config(tmp_path / "c")


def dated(number: int, day: str, **changes) -> dict:
    return incident(**{"incident_id": f"MP-{number}", "reported_at": f"{day}T10:00:00Z",
                       "occurred_at": None, "risk": MEDIUM, "children": []} | changes)


def test_a_late_notification_that_completes_an_escalation_refers_the_later_incident_to_marac():
    results = route(dated(1, "2026-01-10"), dated(3, "2026-03-10"),
                    dated(2, "2026-02-10", sent_at="2026-03-20T12:00:00Z"))
    assert results[2] == [
        ("refer", "COMMUNITY_ADVOCACY", ("medium_risk",)),
        ("refer", "MARAC", ("potential_escalation", "late_notification")),
        ("refer", "IDVA", ("potential_escalation", "late_notification")),
        ("amend", "COMMUNITY_ADVOCACY", ("no_longer_met",))]
    router = OfflineRouter(CONFIG)
    for notification in (dated(1, "2026-01-10"), dated(3, "2026-03-10"),
                         dated(2, "2026-02-10", sent_at="2026-03-20T12:00:00Z")):
        actions = router.route(parse_incident(json.dumps(notification), CONFIG))
    marac = next(a for a in actions if a.pathway == "MARAC")
    assert marac.incident_id == "MP-3"
    assert marac.due_at == datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # from the late one's sent_at


def test_a_late_notification_that_completes_no_escalation_changes_no_other_incident():
    results = route(dated(1, "2025-01-10"), dated(3, "2026-03-10"), dated(2, "2026-02-10"))
    assert results[2] == [("refer", "COMMUNITY_ADVOCACY", ("medium_risk",))]


def test_a_late_notification_adds_a_criterion_to_an_existing_marac_referral_by_amend():
    results = route(dated(1, "2026-01-10"), dated(3, "2026-03-10", risk=HIGH),
                    dated(2, "2026-02-10"))
    assert ("amend", "MARAC", ("visible_high_risk", "potential_escalation", "late_notification")) in results[2]


def test_explain_says_why_each_amend_and_recall_happened():
    router = OfflineRouter(CONFIG)
    router.route(parse_incident(json.dumps(incident()), CONFIG))
    actions = router.route(parse_incident(json.dumps(incident(version=2, risk__dash_yes_count=20,
                                                              children=[])), CONFIG))
    why = {(a.action, a.pathway): a.explanation[0] for a in actions}
    assert why[("amend", "MARAC")] == "amended by version 2: changed since the record sent: children, risk"
    assert why[("recall", "ENCOMPASS")] == "subject_removed: version 2 no longer names this referral's subject"


def test_a_record_rebuilt_from_avro_digests_as_the_one_from_json():
    """The router reads incidents from Avro (UTC, another tzinfo); an unchanged version is
    no amendment whichever way its records were built."""
    from referral_hub.adapters.avro import AvroCodec
    from referral_hub.core.revisions import record_digest
    codec = AvroCodec(REPO_ROOT / "schemas" / "avro")
    from_json = parse_incident(json.dumps(incident(reported_at="2026-06-01T10:00:00+01:00")), CONFIG)
    from_avro = from_json.model_validate(codec.decode("incident", codec.encode("incident", from_json.model_dump())),
                                         strict=False)
    for decision in OfflineRouter(CONFIG).route(from_json):
        assert record_digest(decision, from_json, CONFIG) == record_digest(decision, from_avro, CONFIG)


def test_a_perpetrator_no_longer_named_has_his_matac_referral_recalled():
    serial = {"perpetrator__person_id": "MP-P-SERIAL", "local_authority": "E08000011"}  # Knowsley: a MATAC
    first = incident(incident_id="MP-1", victim__person_id="MP-P-V1", children=[], **serial)
    second = incident(incident_id="MP-2", victim__person_id="MP-P-V2", children=[], **serial)
    corrected = incident(incident_id="MP-2", victim__person_id="MP-P-V2", children=[], version=2,
                         local_authority="E08000011",
                         perpetrator__person_id="MP-P-OTHER")
    results = route(first, second, corrected)
    assert ("refer", "MATAC", ("serial_perpetrator",)) in results[1]
    assert ("recall", "MATAC", ("subject_removed",)) in results[2]
    assert {action for action, pathway, _ in results[2] if pathway != "MATAC"} == {"amend"}  # MARAC, IDVA
