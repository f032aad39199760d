"""The second edition's pathways on the running hub: specialist services by flag, a child
related to the perpetrator but living elsewhere, and the Key Adult's fuller notice."""
from referral_hub.adapters.topics import REFERRALS
from tests.factories import child, fresh_incident
from tests.integration.kafka_helpers import post_incident


def test_a_knowsley_victim_flagged_for_honour_based_abuse_reaches_the_specialists_and_the_school(api, topic):
    related = child("MP-P-REL", present=False, resides_with=[], urn="104500") | {
        "related_to": ["perpetrator"], "voice": "said he misses his dad"}
    notification = fresh_incident(local_authority="E08000011", location_type="perpetrator_home",
                                  risk={"tool": "DASH", "dash_yes_count": 9},
                                  flags=["honour_based_abuse", "forced_marriage"], children=[related])
    notification["victim"]["contact"]["safe_to_contact"] = False
    assert post_incident(api, notification).status_code == 202

    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=notification["incident_id"])) >= 5,
                       "community advocacy, two specialists, Encompass and the MASH")
    decisions = referrals.values(incident_id=notification["incident_id"])
    assert sorted((d["pathway"], d["recipient"]) for d in decisions) == [
        ("COMMUNITY_ADVOCACY", "knowsley-community"), ("ENCOMPASS", "setting-104500"),
        ("MASH_IDVA", "knowsley-mash"), ("SPECIALIST", "karma-nirvana"), ("SPECIALIST", "savera-uk")]
    assert {d["pathway"]: d["reasons"] for d in decisions if d["pathway"] in ("ENCOMPASS", "MASH_IDVA")} == {
        "ENCOMPASS": ["child_related"], "MASH_IDVA": ["child_related"]}

    for service, flag in (("savera-uk", "honour_based_abuse"), ("karma-nirvana", "forced_marriage")):
        delivered = topic(f"recipient.{service}.v1", "any")
        delivered.wait_for(lambda _, reader=delivered: reader.values(police_reference=(
            f"Merseyside Police {notification['incident_id']}")), f"the record on {service}'s topic")
        [record] = delivered.values(police_reference=f"Merseyside Police {notification['incident_id']}")
        assert record["reasons"] == [flag]
        assert record["flags"] == ["honour_based_abuse", "forced_marriage"]  # every flag, for context

    schools = topic("recipient.education-settings.v1", "any")
    encompass_id = next(d["referral_id"] for d in decisions if d["pathway"] == "ENCOMPASS")
    schools.wait_for(lambda _: schools.values(referral_id=encompass_id), "the Key Adult's record")
    [notice] = schools.values(referral_id=encompass_id)
    assert (notice["location_type"], notice["child_voice"], notice["child_present"]) == (
        "perpetrator_home", "said he misses his dad", False)
    assert notice["parent_contact"].startswith("Do not contact the parent about this.")
    assert "flags" not in notice and "honour" not in str(notice)
