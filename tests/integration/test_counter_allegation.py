"""Counter-allegations on the running router: the victim and perpetrator histories are
partitioned by different people, so the router meets both roles of a pair on the
incidents.by-pair.v1 partition of the unordered pair of person ids (services/router/app.py)."""
from referral_hub.adapters.topics import REFERRALS
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident

MEDIUM = {"tool": "DASH", "dash_yes_count": 11}
HIGH = {"tool": "DASH", "dash_yes_count": 15}


def reversed_pair() -> tuple[dict, dict]:
    """Anne recorded abusing Ben, then Ben recorded abusing Anne the next day."""
    first = fresh_incident(risk=MEDIUM, children=[], reported_at="2026-11-19T20:00:00Z",
                           occurred_at=None)
    second = fresh_incident(risk=HIGH, children=[], victim__person_id=first["perpetrator"]["person_id"],
                            perpetrator__person_id=first["victim"]["person_id"])
    return first, second


def victim_referrals(reader, incident_id: str, count: int) -> list[dict]:
    reader.wait_for(lambda _: len(reader.values(incident_id=incident_id)) >= count,
                    f"{count} referrals for {incident_id}")
    return reader.values(incident_id=incident_id)


def flagged(referrals: list[dict]) -> bool:
    marks = {"possible_counter_allegation" in r["reasons"] for r in referrals}
    assert len(marks) == 1, "every victim referral of one incident is marked alike"
    return marks.pop()


def test_the_reversed_incident_warns_the_marac_and_names_the_earlier_one(api, topic):
    first, second = reversed_pair()
    referrals = topic(REFERRALS, "referral")
    assert post_incident(api, first).status_code == 202
    assert not flagged(victim_referrals(referrals, first["incident_id"], 1))  # community advocacy
    assert post_incident(api, second).status_code == 202
    decisions = victim_referrals(referrals, second["incident_id"], 2)
    assert {d["pathway"] for d in decisions} == {"MARAC", "IDVA"} and flagged(decisions)

    marac_id = next(d["referral_id"] for d in decisions if d["pathway"] == "MARAC")
    marac = topic("recipient.st-helens-marac.v1", "any")
    marac.wait_for(lambda _: marac.values(referral_id=marac_id), "the MARAC's record")
    [record] = marac.values(referral_id=marac_id)
    assert record["related_incidents"] == [f"merseyside/{first['incident_id']}"]
    assert record["explanation"][0].startswith(
        "possible_counter_allegation: the victim was recorded as the perpetrator against this perpetrator")


def test_a_burst_of_reversed_pairs_warns_once_per_pair_whatever_the_order(api, topic):
    """Both notifications of each pair are sent at once: the router sees them in either order,
    on different victim partitions; on the pair's partition the second carries the warning."""
    pairs = [reversed_pair() for _ in range(6)]
    for first, second in pairs:
        assert post_incident(api, first).status_code == 202
        assert post_incident(api, second).status_code == 202
    referrals = topic(REFERRALS, "referral")
    for first, second in pairs:
        one = victim_referrals(referrals, first["incident_id"], 1)
        other = victim_referrals(referrals, second["incident_id"], 2)
        assert [flagged(one), flagged(other)].count(True) == 1
