"""Overdue referrals are caught as their deadline passes, once, and again daily while open."""
from datetime import datetime, timedelta

import httpx

from referral_hub.adapters.topics import CONTACTS, OVERDUE, REFERRALS
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident, report_contact, wait_until

HALTON = "E06000006"  # no other test sends a Halton MARAC referral: its gauges are this test's


def overdue_gauge(hub) -> float:
    text = httpx.get(hub.urls()["router"] + "/metrics", timeout=5).text
    prefix = f'referral_hub_overdue_referrals{{area="{HALTON}",pathway="MARAC"}} '
    return next((float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)), -1.0)


def test_an_overdue_marac_referral_is_reported_once_then_daily_and_survives_a_restart(api, topic, hub, clock):
    notification = fresh_incident(force="cheshire", local_authority=HALTON, children=[])
    due = datetime.fromisoformat("2026-11-23T09:00:00+00:00")  # Friday night's report: Monday 09:00
    clock(due - timedelta(minutes=1))
    assert post_incident(api, notification, "cheshire").status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(incident_id=notification["incident_id"], pathway="MARAC"),
                       "the MARAC referral")
    [marac] = referrals.values(incident_id=notification["incident_id"], pathway="MARAC")
    contacts = topic(CONTACTS, "contact-event")
    contacts.wait_for(lambda _: contacts.values(referral_id=marac["referral_id"], type="referred"),
                      "the referral's life starting on contacts.v1")
    wait_until(lambda: overdue_gauge(hub) == 0.0, "the open, not yet overdue, referral in the gauges")

    overdue = topic(OVERDUE, "overdue")
    clock(due + timedelta(seconds=1))
    overdue.wait_for(lambda _: overdue.values(referral_id=marac["referral_id"]), "the overdue event")
    wait_until(lambda: overdue_gauge(hub) == 1.0, "the overdue gauge")
    [event] = overdue.values(referral_id=marac["referral_id"])
    assert (event["kind"], event["pathway"], event["recipient"], event["escalation_contact"]) == (
        "overdue", "MARAC", "halton-marac", "halton-escalation")
    escalation = topic("recipient.halton-escalation.v1", "overdue")
    escalation.wait_for(lambda _: escalation.values(referral_id=marac["referral_id"]),
                        "the area's escalation contact told")

    hub.stop_one("router")  # a restart neither forgets the referral nor reports it again
    hub.start_one("router")
    hub.wait_ready(timeout=60)
    wait_until(lambda: overdue_gauge(hub) == 1.0, "the overdue gauge after the restart")

    clock(due + timedelta(days=1, seconds=2))
    overdue.wait_for(lambda _: any(e["kind"] == "reminder" for e in overdue.values(referral_id=marac["referral_id"])),
                     "the daily reminder")
    # One referral's records keep their order on overdue.v1: a repeat after the restart
    # would stand between the two.
    assert [e["kind"] for e in overdue.values(referral_id=marac["referral_id"])] == ["overdue", "reminder"]
    assert overdue.values(referral_id=marac["referral_id"])[1]["days_overdue"] == 1

    answer = report_contact(api, marac, "safe_contact_made", due + timedelta(days=1))
    assert answer.status_code == 202
    wait_until(lambda: overdue_gauge(hub) == 0.0, "the contacted referral leaving the overdue gauge")
