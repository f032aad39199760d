"""A router stopped and started again keeps each person's history and repeats nothing."""
from tests.factories import fresh_incident
from referral_hub.topics import REFERRALS
from tests.integration.kafka_helpers import post_incident


def test_history_survives_a_router_restart(api, topic, hub):
    medium = {"tool": "DASH", "dash_yes_count": 11}
    first = fresh_incident(risk=medium, children=[], occurred_at=None, reported_at="2026-03-01T10:00:00Z")
    second = dict(first, incident_id=first["incident_id"] + "-2", reported_at="2026-07-01T10:00:00Z")
    third = dict(first, incident_id=first["incident_id"] + "-3", reported_at="2026-11-20T10:00:00Z")
    referrals = topic(REFERRALS, "referral")
    for notification in (first, second):
        assert post_incident(api, notification).status_code == 202
    referrals.wait_for(lambda _: referrals.values(incident_id=second["incident_id"]), "the second incident")

    hub.stop_one("router")
    hub.start_one("router")
    hub.wait_healthy(timeout=60)

    assert post_incident(api, third).status_code == 202
    referrals.wait_for(lambda _: len(referrals.values(incident_id=third["incident_id"])) == 2,
                       "MARAC and IDVA for the third incident")
    assert {d["pathway"]: d["reasons"] for d in referrals.values(incident_id=third["incident_id"])} == {
        "MARAC": ["potential_escalation"], "IDVA": ["potential_escalation"]}
    # The restarted router did not route the earlier incidents again.
    assert [d["pathway"] for d in referrals.values(incident_id=first["incident_id"])] == ["COMMUNITY_ADVOCACY"]

    # The perpetrator's history survived too: a second victim makes him a serial perpetrator.
    other_victim = dict(third, incident_id=first["incident_id"] + "-4",
                        victim=dict(third["victim"], person_id=third["victim"]["person_id"] + "-B"))
    assert post_incident(api, other_victim).status_code == 202
    referrals.wait_for(lambda _: referrals.values(incident_id=other_victim["incident_id"], pathway="MATAC"),
                       "a MATAC referral for the second victim's incident")
