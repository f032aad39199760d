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
