"""The second edition's rules as a recipient reads them: each referral's reasons and its
explanation line by line (route --explain and every record's `explanation`), for the
specialist services, a victim outside the partnership, the data problems a recipient is
told of, and the deadline a protective notice sets (pathways.md)."""
import json
from datetime import UTC, datetime

import pytest

from referral_hub.core.history import History
from referral_hub.core.rules import decide, decide_for_victim
from referral_hub.core.validation import parse_incident
from tests.factories import child, incident

KNOWSLEY = "E08000011"  # sends stalking to the National Stalking Helpline
STANDARD_RISK = {"tool": "DASH", "dash_yes_count": 3}
REPORT = "after the report (Friday 20 November 2026 22:14)"
STALKING = "stalking: flagged by the police; Knowsley sends stalking to National Stalking Helpline"


def decisions(config, notification, history=History()):
    return decide(parse_incident(json.dumps(notification), config), history, config)


def referral(config, notification, pathway):
    [made] = [d for d in decisions(config, notification) if d.pathway == pathway]
    return made


def test_a_specialist_referral_alongside_marac_does_not_wait_for_consent(config):
    made = referral(config, incident(local_authority=KNOWSLEY, flags=["stalking"], consent_to_share=False),
                    "SPECIALIST")
    assert (made.recipient, made.reasons) == ("national-stalking-helpline", ("stalking",))
    assert made.explanation == (
        STALKING, "alongside the MARAC referral, so without waiting for consent",
        f"due Tuesday 24 November 2026 09:00 UK time: 2 working days {REPORT}")


def test_a_specialist_referral_below_marac_is_made_with_consent_and_says_so(config):
    made = referral(config, incident(local_authority=KNOWSLEY, flags=["stalking"], risk=STANDARD_RISK),
                    "SPECIALIST")
    assert made.explanation[:2] == (STALKING, "the victim consented to a referral")


def test_no_specialist_referral_below_marac_without_consent(config):
    notification = incident(local_authority=KNOWSLEY, flags=["stalking"], risk=STANDARD_RISK, consent_to_share=False)
    assert [d.pathway for d in decisions(config, notification)] == ["ENCOMPASS", "MASH_IDVA"]


def test_a_victim_outside_the_partnership_gets_one_referral_that_says_what_it_stands_for(config):
    notification = incident(local_authority="E08000012", children=[child("C1", urn="999999")],
                            victim__gender="woman")
    [made] = decisions(config, notification)
    assert (made.pathway, made.recipient, made.subject_id) == ("OUT_OF_AREA", "merseyside-out-of-area", "MP-P-88123")
    assert made.reasons == ("outside_partnership", "visible_high_risk", "child_present", "child_resident",
                            "setting_not_in_directory", "children_in_household")
    assert made.explanation == (
        "outside_partnership: the victim lives in E08000012, outside the partnership: Merseyside Police "
        "out-of-area DA coordinator passes this to the home area, decided by St Helens's rules",
        "visible_high_risk: as for MARAC", "child_present: as for ENCOMPASS", "child_resident: as for ENCOMPASS",
        "setting_not_in_directory: as for ENCOMPASS", "children_in_household: as for MASH_IDVA",
        "stands for MARAC (MP-P-88123)", "stands for IDVA (MP-P-88123)", "stands for ENCOMPASS (C1)",
        "stands for MASH_IDVA (MP-P-88123)",
        "data problem: victim.gender: is not a known value: taken as unknown",
        f"due Monday 23 November 2026 09:00 UK time: 1 working day {REPORT}")


def test_a_school_in_the_directory_is_told_directly_even_for_a_victim_outside_the_partnership(config):
    made = decisions(config, incident(local_authority="E08000012"))
    assert sorted((d.pathway, d.recipient) for d in made) == [
        ("ENCOMPASS", "setting-104808"), ("OUT_OF_AREA", "merseyside-out-of-area")]


def test_recipients_of_adult_pathways_are_told_the_adults_data_problems_not_the_childrens(config):
    notification = incident(victim__gender="woman", children=[child("C1", urn="12")])
    made = {d.pathway: d for d in decisions(config, notification)}
    told = "data problem: victim.gender: is not a known value: taken as unknown"
    for pathway in ("MARAC", "IDVA", "MASH_IDVA"):
        assert [line for line in made[pathway].explanation if line.startswith("data problem")] == [told]
    assert not any(line.startswith("data problem") for line in made["ENCOMPASS"].explanation)


@pytest.mark.parametrize("expires_at, due, rule", [
    ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC),
     f"Saturday 21 November 2026 10:00 UK time: when the DVPN expires, sooner than 1 working day {REPORT}"),
    ("2026-11-24T10:00:00Z", datetime(2026, 11, 21, 22, 14, tzinfo=UTC),
     f"Saturday 21 November 2026 22:14 UK time: 24 hours {REPORT}, as a DVPN is in force"),
    ("2026-11-20T22:14:00Z", datetime(2026, 11, 23, 9, tzinfo=UTC),  # expired at the report: ignored
     f"Monday 23 November 2026 09:00 UK time: 1 working day {REPORT}"),
])
def test_a_protective_notice_in_force_brings_a_victims_deadline_forward(config, expires_at, due, rule):
    notice = {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z", "expires_at": expires_at}
    made = referral(config, incident(protective_notice=notice), "MARAC")
    assert (made.due_at, made.explanation[-1]) == (due, f"due {rule}")


def test_a_notice_does_not_shorten_a_childrens_deadline(config):
    notice = {"type": "DVPO", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-11-21T10:00:00Z"}
    made = {d.pathway: d.due_at for d in decisions(config, incident(protective_notice=notice))}
    assert made["MASH_IDVA"] == made["ENCOMPASS"] == datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_what_an_amendment_first_brings_about_is_due_from_when_it_was_sent(config):
    parsed = parse_incident(json.dumps(incident(children=[])), config)
    sent = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    [marac, *_] = decide_for_victim(parsed, History().victim, config, clock_start=sent)
    assert marac.due_at == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert marac.explanation[-1] == ("due Tuesday 24 November 2026 09:00 UK time: 1 working day after this "
                                     "version was sent (Monday 23 November 2026 15:00)")


def test_the_pair_key_is_the_same_whichever_of_the_two_is_the_victim(config):
    """Both incidents of a counter-allegation meet on one partition of the pair's history."""
    from referral_hub.core.rules import pair_key, perpetrator_key
    one = parse_incident(json.dumps(incident()), config)
    reversed_ = parse_incident(json.dumps(incident(victim__person_id="MP-P-40007", perpetrator__person_id="MP-P-88123")),
                               config)
    assert pair_key(one) == pair_key(reversed_) == "merseyside:MP-P-40007|MP-P-88123"
    assert (perpetrator_key(one), perpetrator_key(reversed_)) == ("merseyside:MP-P-40007", "merseyside:MP-P-88123")
    alone = parse_incident(json.dumps(incident(perpetrator=None)), config)
    assert (pair_key(alone), perpetrator_key(alone)) == (None, None)


@pytest.mark.parametrize("related_to, words", [
    (["victim"], "the child is the son or daughter of the victim"),
    (["victim", "perpetrator"], "the child is the son or daughter of the victim and of the perpetrator"),
])
def test_a_school_is_told_whose_child_it_is(config, related_to, words):
    kid = child("C1", present=False, resides_with=[]) | {"related_to": related_to}
    made = referral(config, incident(children=[kid]), "ENCOMPASS")
    assert made.reasons == ("child_related",) and f"child_related: {words}" in made.explanation


def test_a_school_is_told_with_whom_the_child_lives(config):
    made = referral(config, incident(children=[child("C1", present=False, resides_with=["victim", "perpetrator"])]),
                    "ENCOMPASS")
    assert made.explanation[0] == "child_resident: the child lives with the victim and the perpetrator"


def test_no_out_of_area_referral_when_no_pathway_it_would_stand_for_is_called_for(config):
    notification = incident(local_authority="E08000012", risk=STANDARD_RISK, consent_to_share=False, children=[])
    assert decisions(config, notification) == []


def test_a_dash_count_that_could_not_be_used_is_said_so_beside_the_officers_grade(config):
    made = referral(config, incident(risk={"tool": "DASH", "dash_yes_count": 31, "officer_grade": "high"}), "MARAC")
    assert made.explanation[0] == "professional_judgement: the officer graded the risk high; DASH result not usable"


def test_the_mash_lists_the_children_living_elsewhere_by_id(config):
    away = [child(f"C{n}", present=False, resides_with=[]) | {"related_to": ["victim"]} for n in (1, 2)]
    made = referral(config, incident(children=away), "MASH_IDVA")
    assert "child_related: 2 child(ren) of either adult living elsewhere: C1, C2" in made.explanation


def test_a_childs_notice_says_the_entry_is_being_checked(config):
    made = referral(config, incident(children=[child("C1", born="2030-01-01")]), "ENCOMPASS")
    assert "child_data_problem: the child's entry needs checking (see the MASH referral)" in made.explanation


def test_a_school_in_another_area_is_named_with_whose_school_days_count(config):
    made = referral(config, incident(local_authority=KNOWSLEY), "ENCOMPASS")
    assert made.explanation[2:4] == ("attends Example Park Primary School (URN 104808): its Key Adult is told",
                                     "school days are those of St Helens, the school's area")


def test_a_counter_allegation_on_the_same_day_is_before_this_one(config):
    from tests.unit.test_rules_second_edition import reversed_pair
    [marac] = [d for d in reversed_pair(config, 0) if d.pathway == "MARAC"]
    assert "(incident merseyside/MP-1, 0 days before)" in marac.explanation[0]


def test_a_recall_is_not_marked_as_a_counter_allegation(config):
    from dataclasses import replace

    from referral_hub.core.history import PairHistory, PairIncident
    from referral_hub.core.rules import counter_allegation
    parsed = parse_incident(json.dumps(incident()), config)
    earlier = PairIncident("merseyside/MP-1", "MP-P-40007", datetime(2026, 11, 1, tzinfo=UTC))
    [marac, *_] = decide(parsed, History(), config)
    recall = replace(marac, action="recall", reasons=("wrong_person",))
    assert counter_allegation(parsed, PairHistory((earlier,)), [recall, marac]) == [
        recall, replace(marac, reasons=("visible_high_risk", "possible_counter_allegation"),
                        linked_incidents=("merseyside/MP-1",))]


def test_the_same_incident_again_makes_no_second_matac_referral(config):
    from referral_hub.core.history import PerpetratorHistory, PerpetratorIncident
    from referral_hub.core.rules import decide_for_perpetrator
    parsed = parse_incident(json.dumps(incident(local_authority=KNOWSLEY)), config)
    other = PerpetratorIncident("merseyside/OLD-1", "merseyside:OTHER", datetime(2026, 6, 1, tzinfo=UTC), False)
    assert [d.pathway for d in decide_for_perpetrator(parsed, PerpetratorHistory((other,)), config)] == ["MATAC"]
    # seen before (whatever it made then): the same incident again changes nothing
    again = PerpetratorIncident(parsed.reference, parsed.key, parsed.reported_at, False)
    assert decide_for_perpetrator(parsed, PerpetratorHistory((other, again)), config) == []


def test_a_matac_referral_an_amendment_first_brings_about_is_due_from_when_it_was_sent(config):
    from referral_hub.core.history import PerpetratorHistory, PerpetratorIncident
    from referral_hub.core.rules import decide_for_perpetrator
    parsed = parse_incident(json.dumps(incident(local_authority=KNOWSLEY)), config)
    other = PerpetratorIncident("merseyside/OLD-1", "merseyside:OTHER", datetime(2026, 6, 1, tzinfo=UTC), False)
    sent = datetime(2026, 11, 25, 12, tzinfo=UTC)
    [first] = decide_for_perpetrator(parsed, PerpetratorHistory((other,)), config)
    [amended] = decide_for_perpetrator(parsed, PerpetratorHistory((other,)), config, clock_start=sent)
    assert amended.due_at - first.due_at == sent - parsed.reported_at


def test_a_notice_deadline_tying_with_the_usual_one_is_explained_by_the_usual_rule(config):
    """3 working days after Friday 23:00 is Wednesday 09:00, 106 hours later: an area whose
    notice hours are 106 gets the same moment both ways, and the explanation names the usual rule."""
    area = config.areas["E08000013"]
    deadlines = area.deadlines | {"COMMUNITY_ADVOCACY": area.deadlines["COMMUNITY_ADVOCACY"].model_copy(
        update={"working_days": 3})}
    tied = config.model_copy(update={"areas": config.areas | {"E08000013": area.model_copy(
        update={"protective_notice_hours": 106, "deadlines": deadlines})}})
    notice = {"type": "DVPN", "issued_at": "2026-11-20T22:00:00Z", "expires_at": "2026-12-20T22:00:00Z"}
    notification = incident(reported_at="2026-11-20T23:00:00Z", occurred_at=None, risk=STANDARD_RISK,
                            protective_notice=notice, children=[])
    [made] = decide(parse_incident(json.dumps(notification), tied), History(), tied)
    assert made.due_at == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert made.explanation[-1] == ("due Wednesday 25 November 2026 09:00 UK time: 3 working days after the "
                                    "report (Friday 20 November 2026 23:00)")
