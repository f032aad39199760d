"""On the running hub: amendments, withdrawals and outcomes as a force and a MARAC see them."""
import io
import json
from datetime import datetime, timedelta

from referral_hub.adapters.topics import OVERDUE, REFERRALS
from referral_hub.commands.route import route_lines
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import (post_incident, post_restarting_the_router, posted_referral,
                                             report_contact, route_output, wait_until)

MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
HIGH = {"tool": "DASH", "dash_yes_count": 16}
SCHOOLS = "recipient.education-settings.v1"
PAIR_HISTORY_CHANGELOG = "referral-hub-router-pair-history-changelog"


def test_an_amended_incident_reaches_marac(api, topic):
    first = fresh_incident(risk=MEDIUM, children=[])
    assert post_incident(api, first).status_code == 202
    regraded = first | {"version": 2, "risk": HIGH}
    assert post_incident(api, regraded).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(incident_id=first["incident_id"], pathway="MARAC"),
                       "the MARAC referral the re-grade calls for")
    [marac] = referrals.values(incident_id=first["incident_id"], pathway="MARAC")
    assert (marac["action"], marac["reasons"]) == ("refer", ["visible_high_risk"])
    marac_topic = topic("recipient.st-helens-marac.v1", "any")
    marac_topic.wait_for(lambda _: marac_topic.values(referral_id=marac["referral_id"]), "MARAC's record")
    support = referrals.values(incident_id=first["incident_id"], pathway="COMMUNITY_ADVOCACY")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=first["incident_id"],
                                                      pathway="COMMUNITY_ADVOCACY")) == 2,
                       "the community referral standing with no_longer_met")
    support = referrals.values(incident_id=first["incident_id"], pathway="COMMUNITY_ADVOCACY")
    assert [(r["action"], r["reasons"]) for r in support] == [("refer", ["medium_risk"]),
                                                             ("amend", ["no_longer_met"])]


def test_a_withdrawn_incident_reaches_the_school_as_a_recall_by_kafka_and_email(api, topic, mailbox):
    notification = fresh_incident()
    encompass = posted_referral(api, topic, notification, "ENCOMPASS")
    withdrawn = notification | {"version": 2, "status": "withdrawn", "withdrawal_reason": "wrong_person"}
    answer = post_incident(api, withdrawn)
    assert answer.status_code == 202 and answer.json()["data_problems"] == []
    school = topic(SCHOOLS, "any")
    school.wait_for(lambda _: school.values(referral_id=encompass["referral_id"], action="recall"),
                    "the recall on the schools' topic")
    [recall] = school.values(referral_id=encompass["referral_id"], action="recall")
    assert recall["reason"] == "wrong_person" and "child" not in recall
    wait_until(lambda: any(m["X-Referral-Id"] == encompass["referral_id"] and "Withdrawn" in m["Subject"]
                           for m in mailbox), "the recall email to the school")
    [email] = [m for m in mailbox if m["X-Referral-Id"] == encompass["referral_id"]
               and "Withdrawn" in m["Subject"]]
    assert notification["children"][0]["given_name"] not in email.as_string()


def test_a_declined_referral_is_never_reported_overdue(api, topic, clock):
    notification = fresh_incident(children=[])
    clock(datetime.fromisoformat("2026-11-21T10:00:00+00:00"))
    assert post_incident(api, notification).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=notification["incident_id"])) == 2,
                       "MARAC and IDVA")
    [marac] = referrals.values(incident_id=notification["incident_id"], pathway="MARAC")
    [idva] = referrals.values(incident_id=notification["incident_id"], pathway="IDVA")
    assert report_contact(api, idva, "declined", "2026-11-21T09:30:00+00:00").status_code == 202
    overdue = topic(OVERDUE, "overdue")
    clock(marac["due_at"] + timedelta(days=1, seconds=5))
    overdue.wait_for(lambda _: overdue.values(referral_id=marac["referral_id"]),
                     "the open MARAC referral reported overdue (the sweep that passed the IDVA one)")
    assert overdue.values(referral_id=idva["referral_id"]) == []


def test_a_router_killed_in_a_burst_of_amendments_ends_with_the_offline_result(api, topic, hub, config):
    """Killed (SIGKILL), not stopped: whatever it had not committed is read again after the
    restart, and replays repeat records (the same ids), never add others."""
    families = [fresh_incident(risk=MEDIUM) for _ in range(4)]
    burst = []
    for first in families:
        child = first["children"][0]
        burst += [first] + [first | {"version": n, "sent_at": "2026-11-21T09:00:00Z", "risk": risk,
                                     "children": children}
                            for n, risk, children in ((2, HIGH, [child]), (3, HIGH, []), (4, MEDIUM, [child]),
                                                      (5, HIGH, [child | {"present": False}]))]
    burst.sort(key=lambda n: n.get("version", 1))  # interleaved: every family's v1, then v2, ...
    out = io.StringIO()
    route_lines(io.StringIO("\n".join(json.dumps(n) for n in burst)), out, io.StringIO(), config)
    expected = {json.dumps(json.loads(line), sort_keys=True) for line in out.getvalue().splitlines()}
    post_restarting_the_router(api, hub, burst, after=len(burst) // 2, kill=True)
    referrals = topic(REFERRALS, "referral")
    ids = {f["incident_id"] for f in families}

    def streamed() -> set[str]:
        return {json.dumps(route_output(r), sort_keys=True) for r in referrals.values() if r["incident_id"] in ids}
    referrals.wait_for(lambda _: expected <= streamed(), lambda: f"missing: {expected - streamed()}", timeout=120)
    assert streamed() == expected  # replays after the restart repeat records, never add others


def test_an_area_corrected_moves_the_referral_to_the_new_marac(api, topic):
    first = fresh_incident(children=[])
    marac = posted_referral(api, topic, first, "MARAC")
    corrected = first | {"version": 2, "local_authority": "E08000011"}  # Knowsley, not St Helens
    assert post_incident(api, corrected).status_code == 202
    old, new = topic("recipient.st-helens-marac.v1", "any"), topic("recipient.knowsley-marac.v1", "any")
    old.wait_for(lambda _: old.values(referral_id=marac["referral_id"], action="recall"),
                 "the recall to St Helens' MARAC")
    assert old.values(referral_id=marac["referral_id"], action="recall")[0]["reason"] == "recipient_changed"
    new.wait_for(lambda _: new.values(referral_id=marac["referral_id"]), "the referral at Knowsley's MARAC")
    [moved] = new.values(referral_id=marac["referral_id"])
    assert (moved["action"], moved["due_at"]) == ("refer", marac["due_at"])


def test_a_corrected_victim_id_recalls_the_old_victims_marac_referral_and_refers_the_new_victim(api, topic):
    first = fresh_incident()
    old = posted_referral(api, topic, first, "MARAC")
    corrected = first | {"version": 2, "victim": first["victim"] | {"person_id": first["victim"]["person_id"] + "X"}}
    assert post_incident(api, corrected).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(referral_id=old["referral_id"], action="recall"),
                       "the old victim's MARAC referral recalled")
    [recall] = referrals.values(referral_id=old["referral_id"], action="recall")
    assert recall["reasons"] == ["subject_removed"]
    referrals.wait_for(lambda _: referrals.values(incident_id=first["incident_id"], pathway="MARAC",
                                                  subject_id=corrected["victim"]["person_id"]),
                       "the new victim's MARAC referral")
    marac = topic("recipient.st-helens-marac.v1", "any")
    marac.wait_for(lambda _: marac.values(referral_id=old["referral_id"], action="recall"), "MARAC's recall")


def test_a_corrected_perpetrator_id_takes_the_incident_out_of_the_earlier_twos_counter_allegations(api, topic):
    """Anne recorded abusing Ben, corrected: it was someone else. Ben recorded abusing Anne
    next is no counter-allegation, and the MARAC is not pointed at the corrected incident."""
    first = fresh_incident(risk=MEDIUM, children=[], reported_at="2026-11-19T20:00:00Z", occurred_at=None)
    ben, anne = first["victim"]["person_id"], first["perpetrator"]["person_id"]
    corrected = first | {"version": 2, "perpetrator": first["perpetrator"] | {"person_id": anne + "X"}}
    for notification in (first, corrected):
        assert post_incident(api, notification).status_code == 202
    pairs, pair_key = topic(PAIR_HISTORY_CHANGELOG), json.dumps(f"merseyside:{'|'.join(sorted((ben, anne)))}")
    pairs.wait_for(lambda _: [json.loads(v) for k, v in pairs.records if k == pair_key][-1:] == [[]],
                   "Anne and Ben's history letting the incident go")

    reversed_ = fresh_incident(risk=HIGH, children=[], victim__person_id=anne, perpetrator__person_id=ben)
    marac = posted_referral(api, topic, reversed_, "MARAC")
    assert "possible_counter_allegation" not in marac["reasons"]
    assert marac["related_incidents"] == []
