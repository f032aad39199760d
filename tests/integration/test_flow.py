"""Incident in, referrals out, contact back: the hub end to end on the real broker."""
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from confluent_kafka import TopicPartition

from referral_hub.adapters.kafka import ensure_topics, make_consumer, make_producer
from referral_hub.adapters.lag import consumer_lag
from referral_hub.adapters.topics import AUDIT, CONTACTS, INCIDENTS, INCIDENTS_DLQ, REFERRALS, raw_topic
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident, report_contact, wait_until

EXPECTED = {"MARAC": "recipient.st-helens-marac.v1", "IDVA": "recipient.st-helens-idva.v1",
            "ENCOMPASS": "recipient.education-settings.v1", "MASH_IDVA": "recipient.st-helens-mash.v1"}


def referrals_for(reader, incident_id, count):
    reader.wait_for(lambda _: len(reader.values(incident_id=incident_id)) >= count,
                    f"{count} referrals for {incident_id}")
    return reader.values(incident_id=incident_id)


def test_a_high_risk_incident_with_a_child_at_school_reaches_every_recipient(api, topic):
    notification = fresh_incident()
    answer = post_incident(api, notification)
    assert answer.status_code == 202
    assert answer.json() == {"incident_id": notification["incident_id"], "status": "accepted",
                             "data_problems": []}

    decisions = referrals_for(topic(REFERRALS, "referral"), notification["incident_id"], 4)
    assert {d["pathway"]: d["reasons"] for d in decisions} == {
        "MARAC": ["visible_high_risk"], "IDVA": ["visible_high_risk"],
        "ENCOMPASS": ["child_present", "child_resident"], "MASH_IDVA": ["children_in_household"]}
    assert {d["due_at"].isoformat() for d in decisions} == {"2026-11-23T09:00:00+00:00"}
    for decision in decisions:
        delivered = topic(EXPECTED[decision["pathway"]], "any")
        delivered.wait_for(lambda _, reader=delivered, rid=decision["referral_id"]: reader.values(referral_id=rid),
                           f"{decision['pathway']} on {EXPECTED[decision['pathway']]}")
    contacts = topic(CONTACTS, "contact-event")
    ids = {d["referral_id"] for d in decisions}
    contacts.wait_for(lambda _: ids <= {e["referral_id"] for e in contacts.values(type="delivered")},
                      "a delivered event for each referral")
    audit = topic(AUDIT, "audit")

    def disclosed() -> set[tuple[str, str]]:
        return {(e["recipient"], e["channel"]) for e in audit.values() if e["referral_id"] in ids}
    audit.wait_for(lambda _: len(disclosed()) == 5, "each disclosure audited")
    # Each agency on its topic; the school on the education-settings topic and by email.
    assert disclosed() == {("st-helens-marac", "kafka"), ("st-helens-idva", "kafka"),
                           ("st-helens-mash", "kafka"), ("setting-104808", "kafka"),
                           ("setting-104808", "email")}
    disclosures = {e["recipient"]: e for e in audit.values() if e["referral_id"] in ids and e["channel"] == "kafka"}
    assert disclosures["setting-104808"]["subjects"] == [notification["children"][0]["person_id"]]
    assert disclosures["setting-104808"]["record_type"] == "recipient-encompass"
    assert disclosures["st-helens-marac"]["subjects"][:2] == [notification["victim"]["person_id"],
                                                              notification["perpetrator"]["person_id"]]


def test_the_same_incident_twice_creates_nothing_new(api, topic):
    first = fresh_incident()
    assert post_incident(api, first).status_code == 202
    assert post_incident(api, first).status_code == 202
    # A later incident for the same victim is routed after both copies (same key, same partition).
    later = dict(first, incident_id=first["incident_id"] + "-2", reported_at="2026-11-21T10:00:00Z",
                 children=[])
    assert post_incident(api, later).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals_for(referrals, later["incident_id"], 2)
    assert len(referrals.values(incident_id=first["incident_id"])) == 4
    # ...and the first incident still counts once in the victim's history: MARAC, not escalation.
    assert {tuple(d["reasons"]) for d in referrals.values(incident_id=later["incident_id"])} == {
        ("visible_high_risk", "repeat_marac")}


def time_to_contact(hub, pathway) -> float:
    text = hub_metrics(hub, "router")
    prefix = f'referral_hub_time_to_contact_seconds_sum{{area="E08000013",pathway="{pathway}"}} '
    return next((float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def hub_metrics(hub, service) -> str:
    import httpx
    return httpx.get(hub.metrics_urls()[service] + "/metrics", timeout=5).text


def test_safe_contact_made_shows_in_the_time_to_contact_histogram(api, topic, hub):
    notification = fresh_incident()
    assert post_incident(api, notification).status_code == 202
    decisions = referrals_for(topic(REFERRALS, "referral"), notification["incident_id"], 4)
    by_pathway = {d["pathway"]: d for d in decisions}
    reported = datetime.fromisoformat(notification["reported_at"])
    before = {p: time_to_contact(hub, p) for p in ("MARAC", "ENCOMPASS")}

    reports = [("MARAC", "contact_attempted", 30), ("MARAC", "safe_contact_made", 90),
               ("ENCOMPASS", "acknowledged", 600)]
    for pathway, kind, seconds in reports:
        answer = report_contact(api, by_pathway[pathway], kind, reported + timedelta(seconds=seconds))
        assert answer.status_code == 202, answer.text

    # An attempt is not contact: MARAC's clock stops at safe contact (90 s), Encompass's at 600 s.
    wait_until(lambda: time_to_contact(hub, "MARAC") - before["MARAC"] == 90,
               "MARAC time to contact of 90 s on the router's /metrics")
    wait_until(lambda: time_to_contact(hub, "ENCOMPASS") - before["ENCOMPASS"] == 600,
               "ENCOMPASS time to contact of 600 s")


def test_contact_reports_are_checked(api, topic):
    assert report_contact(api, {"referral_id": "ref-does-not-exist", "recipient": "st-helens-marac",
                                "area": "E08000013"}, "safe_contact_made", "2026-11-21T10:00:00Z").status_code == 404
    notification = fresh_incident()
    post_incident(api, notification)
    by_pathway = {d["pathway"]: d for d in referrals_for(topic(REFERRALS, "referral"), notification["incident_id"], 4)}
    marac = by_pathway["MARAC"]
    bad_type = report_contact(api, marac, "delivered", "2026-11-21T10:00:00Z")
    assert bad_type.status_code == 422 and bad_type.json()["detail"][0]["path"] == "type"
    too_early = report_contact(api, marac, "safe_contact_made", "2026-11-19T10:00:00Z")
    assert too_early.json() == {"detail": [{"path": "at", "problem": "is before the incident was reported"}]}
    in_future = report_contact(api, marac, "safe_contact_made", datetime.now(UTC) + timedelta(hours=1))
    assert in_future.json() == {"detail": [{"path": "at", "problem": "is in the future"}]}


def test_a_recipient_reports_only_on_its_own_referrals_and_each_report_counts_once(api, topic):
    notification = fresh_incident()
    post_incident(api, notification)
    by_pathway = {d["pathway"]: d for d in referrals_for(topic(REFERRALS, "referral"), notification["incident_id"], 4)}
    marac = by_pathway["MARAC"]
    assert report_contact(api, marac, "contact_attempted", "2026-11-21T10:00:00Z",
                          token="not-a-token").status_code == 401
    assert report_contact(api, marac, "contact_attempted", "2026-11-21T10:00:00Z",
                          token="demo-token-st-helens-idva").status_code == 403
    first = report_contact(api, marac, "contact_attempted", "2026-11-21T10:00:00Z")
    again = report_contact(api, marac, "contact_attempted", "2026-11-21T10:00:00Z")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"event_id": first.json()["event_id"], "status": "already recorded"}
    # The area's Encompass coordinator records a school's acknowledgement; other agencies may not.
    assert report_contact(api, by_pathway["ENCOMPASS"], "acknowledged", "2026-11-21T09:00:00Z").status_code == 202
    assert report_contact(api, by_pathway["ENCOMPASS"], "acknowledged", "2026-11-21T09:00:00Z",
                          token="demo-token-st-helens-marac").status_code == 403
    contacts = topic(CONTACTS, "contact-event")
    contacts.read_to_end()
    assert len(contacts.values(referral_id=marac["referral_id"], type="contact_attempted")) == 1


def test_a_bad_notification_gets_field_errors_and_lands_only_on_the_dead_letter_topic(api, topic):
    notification = fresh_incident(risk__dash_yes_count=31, risk__officer_grade=None, version=0)
    answer = post_incident(api, notification)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"path": "risk.dash_yes_count", "problem": "Input should be less than or equal to 27"},
        {"path": "version", "problem": "Input should be greater than or equal to 1"}]

    dead = topic(INCIDENTS_DLQ, "dead-letter")
    dead.read_to_end()
    [record] = [v for v in dead.values(source="http")
                if v["payload"] and notification["incident_id"].encode() in v["payload"]]
    assert record["force"] == "merseyside"
    assert [p["path"] for p in record["problems"]] == ["risk.dash_yes_count", "version"]
    assert json.loads(record["payload"]) == notification
    incidents = topic(INCIDENTS, "incident")
    incidents.read_to_end()
    assert incidents.values(incident_id=notification["incident_id"]) == []


def test_without_a_valid_api_key_nothing_is_kept(api, topic):
    notification = fresh_incident()
    body = json.dumps(notification)
    for headers in ({}, {"Authorization": "Bearer not-a-key"}):
        assert api.post("/v1/incidents", content=body, headers=headers).status_code == 401
    for name, schema in ((INCIDENTS, "incident"), (INCIDENTS_DLQ, "dead-letter")):
        reader = topic(name, schema)
        assert notification["incident_id"] not in repr(reader.read_to_end())


def test_a_notification_for_another_force_is_refused(api):
    answer = post_incident(api, fresh_incident(), force="cheshire")
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"path": "force", "problem": "does not match the force of the API key"}]


def refused_too_large(hub) -> float:
    """The count so far: other tests send bodies over the limit too."""
    found = re.search(r'^referral_hub_incidents_refused_total\{reason="too_large",source="http"\} (\S+)$',
                      hub_metrics(hub, "ingest"), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_body_over_the_limit_is_refused_and_recorded_without_it(api, topic, hub):
    five_megabytes = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    before = refused_too_large(hub)
    answer = api.post("/v1/incidents", content=five_megabytes, headers={
        "Authorization": "Bearer demo-merseyside-key-not-for-production"})
    assert answer.status_code == 413
    assert answer.json()["detail"][0]["path"] == "(body)"
    dead = topic(INCIDENTS_DLQ, "dead-letter")
    dead.read_to_end()
    assert [v["payload"] for v in dead.values(payload_size=len(five_megabytes))] == [None]
    assert refused_too_large(hub) == before + 1


MERSEYSIDE_RAW = raw_topic("merseyside")


def test_notifications_published_to_the_raw_topic_are_validated_the_same_way(kafka, topic):
    from referral_hub.adapters.kafka import make_producer, produce_and_wait
    good, bad = fresh_incident(), fresh_incident(local_authority="E10000001")
    producer = make_producer(kafka)
    for notification in (bad, good):  # a refused record does not stop the ones after it
        produce_and_wait(producer, MERSEYSIDE_RAW, notification["incident_id"], json.dumps(notification).encode())
    referrals_for(topic(REFERRALS, "referral"), good["incident_id"], 4)
    dead = topic(INCIDENTS_DLQ, "dead-letter")
    dead.wait_for(lambda _: any(bad["incident_id"].encode() in (v["payload"] or b"")
                                for v in dead.values(source=MERSEYSIDE_RAW)), "the refused raw record")
    [record] = [v for v in dead.values(source=MERSEYSIDE_RAW) if bad["incident_id"].encode() in v["payload"]]
    assert [p["path"] for p in record["problems"]] == ["local_authority"]


def test_a_raw_topic_speaks_for_its_own_force_only(kafka, topic, hub):
    """Cheshire's topic carrying a notification that says it is Merseyside's: refused, as a
    Merseyside notification sent with Cheshire's API key is."""
    from referral_hub.adapters.kafka import make_producer, produce_and_wait
    cheshire_topic = raw_topic("cheshire")
    impostor, genuine = fresh_incident(force="merseyside"), fresh_incident(force="cheshire")
    producer = make_producer(kafka)
    for notification in (impostor, genuine):
        produce_and_wait(producer, cheshire_topic, notification["incident_id"], json.dumps(notification).encode())
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(incident_id=genuine["incident_id"]), "the genuine one's referrals")
    dead = topic(INCIDENTS_DLQ, "dead-letter")
    dead.wait_for(lambda _: any(impostor["incident_id"].encode() in (v["payload"] or b"")
                                for v in dead.values(source=cheshire_topic)), "the impostor refused")
    [record] = [v for v in dead.values(source=cheshire_topic) if impostor["incident_id"].encode() in v["payload"]]
    assert record["force"] == "cheshire"
    assert record["problems"] == [{"path": "force", "problem": "does not match the force of the topic"}]
    referrals.read_to_end()
    assert referrals.values(incident_id=impostor["incident_id"]) == []
    assert f'referral_hub_dead_letters_total{{source="{cheshire_topic}"}} 1.0' in hub_metrics(hub, "ingest")


def test_every_service_reports_health_readiness_and_metrics_and_ingest_publishes_its_api(hub, api):
    import httpx
    for service, url in hub.urls().items():
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200, service
        assert httpx.get(url + "/ready", timeout=5).json() == {"status": "ready"}, service
    assert "referral_hub_incidents_accepted_total" in hub_metrics(hub, "ingest")
    assert "referral_hub_referrals_total" in hub_metrics(hub, "router")
    assert "referral_hub_time_to_notify_seconds_bucket" in hub_metrics(hub, "notify")
    document = api.get("/openapi.json").json()
    assert {"/v1/incidents", "/v1/referrals/{referral_id}/events"} <= set(document["paths"])
    assert "incident_id" in document["components"]["schemas"]["IncidentNotification"]["properties"]


def test_each_service_reports_its_consumer_lag(hub):
    expected = {"ingest": 'group="referral-hub-ingest-raw",topic="incidents.raw.cheshire.v1"',
                "router": 'group="referral-hub-router",topic="incidents.v1"',
                "notify": 'group="referral-hub-notify",topic="deliveries.v1"'}
    for service, labels in expected.items():
        wait_until(lambda s=service, l=labels: f"referral_hub_consumer_lag_messages{{{l}}}" in hub_metrics(hub, s),
                   f"{service}'s consumer lag")
        value = re.search(rf"^referral_hub_consumer_lag_messages\{{{re.escape(labels)}\}} (\S+)$",
                          hub_metrics(hub, service), re.MULTILINE).group(1)
        assert float(value) >= 0 and float(value).is_integer(), f"{service}'s lag is {value}"


def test_a_notification_as_police_really_send_it_reaches_marac_and_says_what_was_wrong(api, topic, hub):
    """The issue's case: a nursery's Ofsted number, a child who turned 18, a child listed
    twice, a phone with a dash and a postcode with a trailing space."""
    notification = fresh_incident(victim__contact__phone="0151-443 2610", victim__postcode="wa10 1aa ")
    sam = notification["children"][0]
    nursery = sam | {"person_id": sam["person_id"] + "N", "date_of_birth": "2023-02-01",
                     "education": {"setting": "early_years", "urn": "ey123456"}}
    adult = sam | {"person_id": sam["person_id"] + "A", "date_of_birth": "2008-11-20"}
    notification["children"] = [sam, nursery, adult, sam]
    answer = post_incident(api, notification)
    assert answer.status_code == 202
    assert answer.json()["data_problems"] == [
        {"path": "children[2].date_of_birth",
         "problem": "the person is 18 or over at reported_at: not a child, no Encompass notice"},
        {"path": "children[3]", "problem": "lists a child already listed: notified once"}]
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=notification["incident_id"])) == 5,
                       "MARAC, IDVA, two Encompass notices and the MASH")
    made = {(r["pathway"], r["subject_id"]): r for r in referrals.values(incident_id=notification["incident_id"])}
    assert {p for p, _ in made} == {"MARAC", "IDVA", "ENCOMPASS", "MASH_IDVA"}
    assert made[("ENCOMPASS", nursery["person_id"])]["reasons"] == ["child_present", "child_resident",
                                                                   "setting_not_in_directory"]
    assert "child_data_problem" in made[("MASH_IDVA", notification["victim"]["person_id"])]["reasons"]
    quality = topic("incidents.quality.v1", "data-problem")
    quality.wait_for(lambda _: len(quality.values(incident_id=notification["incident_id"])) == 2,
                     "each data problem on incidents.quality.v1")
    assert {q["field"] for q in quality.values(incident_id=notification["incident_id"])} == {
        "children[].date_of_birth", "children[]"}
    assert 'referral_hub_data_problems_total{field="children[]"}' in hub_metrics(hub, "ingest")


def test_consumer_lag_is_what_the_group_has_not_committed(kafka):
    """Three records on one partition: all three behind for a new group, one after it commits two."""
    name, group = f"test.lag.{uuid.uuid4().hex[:8]}", f"test-lag-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [name])
    producer = make_producer(kafka)
    for value in (b"1", b"2", b"3"):
        producer.produce(name, value=value, partition=0)
    producer.flush(10)
    assert consumer_lag(kafka, group, [name]) == {name: 3}
    committer = make_consumer(kafka, group)
    committer.commit(offsets=[TopicPartition(name, 0, 2)], asynchronous=False)
    committer.close()
    assert consumer_lag(kafka, group, [name]) == {name: 1}
