"""The streaming router and `referral-hub route` give the same decisions for the same incidents,
also when incidents are amended, withdrawn, sent again or arrive late."""
import io
import json
import uuid

from referral_hub.commands.route import Routed, route_lines, routed_lines
from referral_hub.settings import REPO_ROOT
from referral_hub.adapters.topics import REFERRALS
from tests.factories import incident
from tests.integration.kafka_helpers import post_incident, route_output


def scenario(tag: str) -> list[dict]:
    """History at work: escalation, repeat MARAC, a serial perpetrator, a duplicate, versions,
a victim's person id corrected, a perpetrator's and counter-allegations after it, the samples."""
    medium = {"tool": "DASH", "dash_yes_count": 11, "officer_grade": "medium"}
    victim_a = {"victim__person_id": f"A{tag}", "perpetrator__person_id": f"P{tag}", "occurred_at": None,
                "children": []}
    victim_b = victim_a | {"victim__person_id": f"B{tag}", "local_authority": "E08000011"}
    victim_e = victim_a | {"victim__person_id": f"E{tag}"}
    incidents = [
        incident(incident_id=f"{tag}-1", reported_at="2026-01-04T10:00:00Z", risk=medium, **victim_a),
        incident(incident_id=f"{tag}-2", reported_at="2026-03-19T10:00:00Z", risk=medium, **victim_a),
        incident(incident_id=f"{tag}-3", reported_at="2026-06-02T10:00:00Z", risk=medium, **victim_a),
        incident(incident_id=f"{tag}-4", reported_at="2026-08-10T10:00:00Z", risk=medium, **victim_b),
        incident(incident_id=f"{tag}-5", reported_at="2026-11-20T10:00:00Z", risk=medium, **victim_a),
    ]
    incidents.append(incidents[1])  # sent again: changes nothing
    amended = {"sent_at": "2026-11-21T09:00:00Z", "version": 2}
    incidents += [  # a re-grade to high, a withdrawal, a late arrival, a perpetrator corrected, a child added
        incidents[4] | amended | {"risk": {"tool": "DASH", "dash_yes_count": 16}},
        incidents[3] | amended | {"status": "withdrawn", "withdrawal_reason": "wrong_person"},
        incident(incident_id=f"{tag}-6", reported_at="2026-05-01T10:00:00Z", risk=medium, **victim_a),
        incidents[1] | amended | {"perpetrator": incidents[1]["perpetrator"] | {"person_id": f"Q{tag}"}},
        incidents[2] | {"version": 2, "sent_at": "2026-11-21T09:00:00Z", "children": [
            {"person_id": f"C{tag}", "given_name": "Sam", "family_name": "Example",
             "date_of_birth": "2016-09-14", "present": True, "resides_with": ["victim"],
             "education": {"setting": "school", "urn": "104808"}}]},
        incident(incident_id=f"{tag}-7", reported_at="2026-02-01T10:00:00Z", risk=medium, **victim_e),
        incident(incident_id=f"{tag}-8", reported_at="2026-04-01T10:00:00Z", risk=medium, **victim_e),
    ]
    # 1's victim corrected to E: it leaves A's history and, counted by reported_at, makes 8
    # E's third incident in 365 days
    incidents.append(incidents[0] | amended | {"victim": incidents[0]["victim"] | {"person_id": f"E{tag}"}})
    # 9 (G against F) corrected: H, not G (and new safe-contact notes, which F's support
    # record shows); then F is recorded against G, and against H
    victim_f = victim_a | {"victim__person_id": f"F{tag}", "perpetrator__person_id": f"G{tag}"}
    nine = incident(incident_id=f"{tag}-9", reported_at="2026-09-01T10:00:00Z", risk=medium, **victim_f)
    notes = nine["victim"]["contact"] | {"safe_contact_notes": "landline only"}
    incidents += [
        nine, nine | amended | {"perpetrator": nine["perpetrator"] | {"person_id": f"H{tag}"},
                                "victim": nine["victim"] | {"contact": notes}},
        incident(incident_id=f"{tag}-10", reported_at="2026-09-15T10:00:00Z", risk=medium,
                 **victim_f | {"victim__person_id": f"G{tag}", "perpetrator__person_id": f"F{tag}"}),
        incident(incident_id=f"{tag}-11", reported_at="2026-09-20T10:00:00Z", risk=medium,
                 **victim_f | {"victim__person_id": f"H{tag}", "perpetrator__person_id": f"F{tag}"}),
    ]
    for line in (REPO_ROOT / "samples" / "incidents.jsonl").read_text().splitlines()[:5]:
        sample = json.loads(line)
        incidents.append(sample | {"incident_id": f"{sample['incident_id']}-{tag}"})
    return incidents


# The scenario's own incidents routed by hand from shared/spec/pathways.md and the amendment
# rules of incident-notification.md, so a rule that is wrong on both sides (they share the
# rules code) still fails: (action, incident, pathway, subject, recipient, reasons, due).
# Victim A is in St Helens (no MATAC), B in Knowsley (a MATAC), both with perpetrator P.
MATAC_PATTERN = [1, 2, 3, 4]
EXPECTED = [
    # 1: A's first incident, medium risk: community advocacy, 2 working days after Sunday
    ("refer", 1, "COMMUNITY_ADVOCACY", "A", "st-helens-community", ["medium_risk"], "2026-01-06T09:00:00Z"),
    # 2: A's second: not yet a pattern
    ("refer", 2, "COMMUNITY_ADVOCACY", "A", "st-helens-community", ["medium_risk"], "2026-03-23T09:00:00Z"),
    # 3: A's third in 365 days: MARAC and IDVA, the next working day at 09:00 BST
    ("refer", 3, "MARAC", "A", "st-helens-marac", ["potential_escalation"], "2026-06-03T08:00:00Z"),
    ("refer", 3, "IDVA", "A", "st-helens-idva", ["potential_escalation"], "2026-06-03T08:00:00Z"),
    # 4: B's first, in Knowsley; P now has two victims within 3 years: MATAC in 28 days
    ("refer", 4, "COMMUNITY_ADVOCACY", "B", "knowsley-community", ["medium_risk"], "2026-08-12T08:00:00Z"),
    ("refer", 4, "MATAC", "P", "knowsley-matac", ["serial_perpetrator"], "2026-09-07T10:00:00Z"),
    # 5: A's fourth in 365 days, and A went to MARAC for the third; St Helens has no MATAC
    ("refer", 5, "MARAC", "A", "st-helens-marac", ["potential_escalation", "repeat_marac"], "2026-11-23T09:00:00Z"),
    ("refer", 5, "IDVA", "A", "st-helens-idva", ["potential_escalation", "repeat_marac"], "2026-11-23T09:00:00Z"),
    # 2 again changes nothing; 5 re-graded high: the same referrals, amended, due as before
    ("amend", 5, "MARAC", "A", "st-helens-marac", ["visible_high_risk", "potential_escalation", "repeat_marac"],
     "2026-11-23T09:00:00Z"),
    ("amend", 5, "IDVA", "A", "st-helens-idva", ["visible_high_risk", "potential_escalation", "repeat_marac"],
     "2026-11-23T09:00:00Z"),
    # 4 withdrawn: everything it made is recalled with the withdrawal reason
    ("recall", 4, "COMMUNITY_ADVOCACY", "B", "knowsley-community", ["wrong_person"], "2026-08-12T08:00:00Z"),
    ("recall", 4, "MATAC", "P", "knowsley-matac", ["wrong_person"], "2026-09-07T10:00:00Z"),
    # 6 arrives late (Friday 1 May): A's third in 365 days, due Tuesday after the May bank holiday;
    # with it, 3 now also meets repeat_marac: its MARAC and IDVA recipients are told
    ("refer", 6, "MARAC", "A", "st-helens-marac", ["potential_escalation"], "2026-05-05T08:00:00Z"),
    ("refer", 6, "IDVA", "A", "st-helens-idva", ["potential_escalation"], "2026-05-05T08:00:00Z"),
    ("amend", 3, "MARAC", "A", "st-helens-marac", ["potential_escalation", "repeat_marac", "late_notification"],
     "2026-06-03T08:00:00Z"),
    ("amend", 3, "IDVA", "A", "st-helens-idva", ["potential_escalation", "repeat_marac", "late_notification"],
     "2026-06-03T08:00:00Z"),
    # 2's perpetrator corrected: the support record holds no perpetrator, so nothing to tell.
    # 3 with a child added (sent Saturday 21 November): the risk records now list the child,
    # and the child's notice and the MASH referral are due from the sending
    ("amend", 3, "MARAC", "A", "st-helens-marac", ["potential_escalation", "repeat_marac"], "2026-06-03T08:00:00Z"),
    ("amend", 3, "IDVA", "A", "st-helens-idva", ["potential_escalation", "repeat_marac"], "2026-06-03T08:00:00Z"),
    ("refer", 3, "ENCOMPASS", "C", "setting-104808", ["child_present", "child_resident"], "2026-11-23T09:00:00Z"),
    ("refer", 3, "MASH_IDVA", "A", "st-helens-mash", ["children_in_household"], "2026-11-23T09:00:00Z"),
    # 7 and 8: E's first and second (Easter: 8 is due the Tuesday after Easter Monday)
    ("refer", 7, "COMMUNITY_ADVOCACY", "E", "st-helens-community", ["medium_risk"], "2026-02-03T09:00:00Z"),
    ("refer", 8, "COMMUNITY_ADVOCACY", "E", "st-helens-community", ["medium_risk"], "2026-04-07T08:00:00Z"),
    # 1's victim corrected from A to E: E's referral, new, two working days from the sending
    # (Saturday 21 November); 1 before 8 makes 8 E's third in 365 days: MARAC and IDVA,
    # late, due from the sending, and 8's support referral stands; A's referral is recalled
    ("refer", 1, "COMMUNITY_ADVOCACY", "E", "st-helens-community", ["medium_risk"], "2026-11-24T09:00:00Z"),
    ("refer", 8, "MARAC", "E", "st-helens-marac", ["potential_escalation", "late_notification"],
     "2026-11-23T09:00:00Z"),
    ("refer", 8, "IDVA", "E", "st-helens-idva", ["potential_escalation", "late_notification"],
     "2026-11-23T09:00:00Z"),
    ("amend", 8, "COMMUNITY_ADVOCACY", "E", "st-helens-community", ["no_longer_met"], "2026-04-07T08:00:00Z"),
    ("recall", 1, "COMMUNITY_ADVOCACY", "A", "st-helens-community", ["subject_removed"], "2026-01-06T09:00:00Z"),
    # 9: F's first (Tuesday 1 September); corrected, F's support record shows the new notes
    ("refer", 9, "COMMUNITY_ADVOCACY", "F", "st-helens-community", ["medium_risk"], "2026-09-03T08:00:00Z"),
    ("amend", 9, "COMMUNITY_ADVOCACY", "F", "st-helens-community", ["medium_risk"], "2026-09-03T08:00:00Z"),
    # 10: F against G, but 9 no longer names G: no counter-allegation
    ("refer", 10, "COMMUNITY_ADVOCACY", "G", "st-helens-community", ["medium_risk"], "2026-09-17T08:00:00Z"),
    # 11: F against H, 19 days after H against F (9 as corrected): a possible counter-allegation
    ("refer", 11, "COMMUNITY_ADVOCACY", "H", "st-helens-community", ["medium_risk", "possible_counter_allegation"],
     "2026-09-22T08:00:00Z"),
]
COUNTER_ALLEGATIONS = {11: 9}  # incident -> the incident with the roles reversed, which it names


def expected_by_hand(tag: str) -> list[dict]:
    pattern = [f"merseyside/{tag}-{n}" for n in MATAC_PATTERN]
    return [{"action": action, "incident_id": f"{tag}-{n}", "pathway": pathway, "subject_id": f"{who}{tag}",
             "recipient": recipient, "reasons": reasons, "due_at": due,
             "related_incidents": pattern if pathway == "MATAC" else (
                 [f"merseyside/{tag}-{COUNTER_ALLEGATIONS[n]}"] if n in COUNTER_ALLEGATIONS else [])}
            for action, n, pathway, who, recipient, reasons, due in EXPECTED]


def without_referral_ids(decisions: list[dict]) -> list[dict]:
    """Each decision without its id, after checking that an amend or recall names its referral."""
    made = {}
    for decision in decisions:
        key = (decision["incident_id"], decision["pathway"], decision["subject_id"])
        assert made.setdefault(key, decision["referral_id"]) == decision["referral_id"], key
    return [{k: v for k, v in decision.items() if k != "referral_id"} for decision in decisions]


def test_streaming_and_offline_routing_agree(api, topic, config):
    tag = uuid.uuid4().hex[:8].upper()
    incidents = scenario(tag)
    out = io.StringIO()
    assert route_lines(io.StringIO("\n".join(json.dumps(i) for i in incidents)), out, io.StringIO(), config) == 0
    offline = [json.loads(line) for line in out.getvalue().splitlines()]
    assert without_referral_ids([d for d in offline if d["incident_id"].startswith(f"{tag}-")]) == \
        expected_by_hand(tag)
    pathways = {d["pathway"] for d in offline}
    assert {"MARAC", "MATAC", "COMMUNITY_ADVOCACY", "ENCOMPASS"} <= pathways  # the scenario covers them
    assert {"refer", "amend", "recall"} <= {d["action"] for d in offline}
    per_line = [result.actions for _, result in routed_lines([json.dumps(i) for i in incidents], config)
                if isinstance(result, Routed)]

    referrals = topic(REFERRALS, "referral")
    expected: dict[str, int] = {}
    for notification, actions in zip(incidents, per_line):  # one at a time, as offline reads them
        assert post_incident(api, notification, notification["force"]).status_code == 202
        for action in actions:
            expected[action.incident_id] = expected.get(action.incident_id, 0) + 1
        referrals.wait_for(lambda _, i=notification["incident_id"], n=expected.get(notification["incident_id"], 0):
                           len(referrals.values(incident_id=i)) >= n,
                           f"{expected.get(notification['incident_id'], 0)} referrals for {notification['incident_id']}")
    ids = {i["incident_id"] for i in incidents}
    streamed = [route_output(r) for r in referrals.values() if r["incident_id"] in ids]
    key = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731
    assert sorted(map(key, streamed)) == sorted(map(key, offline))
