"""Properties of the rules over generated valid incidents (hypothesis)."""
import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_hub.config import load_config
from referral_hub.commands.route import OfflineRouter
from referral_hub.core.history import History
from referral_hub.core.rules import decide
from referral_hub.settings import REPO_ROOT
from referral_hub.core.validation import parse_incident

CONFIG = load_config(REPO_ROOT / "config")
AREAS = [(a.force, code) for code, a in CONFIG.areas.items()]
URNS = sorted(CONFIG.education_settings) + ["999999"]
VICTIM_PATHWAYS = {"MARAC", "COMMUNITY_ADVOCACY", "YOUNG_PEOPLE"}
TIMESTAMPS = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))


def born(reported: datetime, age: int, days: int) -> str:
    return (reported.date().replace(day=1) - timedelta(days=365 * age + days)).isoformat()


@st.composite
def risks(draw):
    grade = draw(st.sampled_from([None, "standard", "medium", "high"]))
    tool = draw(st.sampled_from(["DASH", "MERIT", "DARA", "NONE"]))
    risk = {"tool": tool, "officer_grade": grade or "standard" if tool in ("DARA", "NONE") else grade,
            "professional_judgement": draw(st.booleans())}
    if tool == "DASH":
        risk["dash_yes_count"] = draw(st.integers(0, 27))
    if tool == "MERIT":
        risk |= draw(st.sampled_from([{"merit_grade": g} for g in ("gold", "silver", "bronze")]
                                     + [{"merit_score": s} for s in (10, 71, 72, 90)]))
    return {k: v for k, v in risk.items() if v is not None}


@st.composite
def children(draw, reported: datetime, n: int):
    result = []
    for index in range(n):
        setting = draw(st.sampled_from(["school", "college", "early_years", "home_educated", "none", "unknown"]))
        result.append({
            "person_id": f"C{index}", "given_name": "Kid", "family_name": "Example",
            "date_of_birth": born(reported, draw(st.integers(0, 16)), draw(st.integers(0, 300))),
            "present": draw(st.booleans()),
            "resides_with": draw(st.sampled_from([[], ["victim"], ["perpetrator"], ["victim", "perpetrator"]])),
            "education": {"setting": setting, "urn": draw(st.sampled_from(URNS))
                          if setting in ("school", "college", "early_years") else None}})
    return result


@st.composite
def incidents(draw, victim: str = "V1", perpetrator: str = "P1"):
    reported = draw(TIMESTAMPS)
    force, area = draw(st.sampled_from(AREAS))
    notification = {
        "schema_version": 1, "incident_id": draw(st.uuids()).hex, "force": force,
        "local_authority": area, "reported_at": reported.isoformat(),
        "victim": {"person_id": victim, "given_name": "Ann", "family_name": "Example",
                   "date_of_birth": born(reported, draw(st.integers(12, 90)), draw(st.integers(0, 300))),
                   "gender": "female", "contact": {"safe_to_contact": draw(st.booleans())}},
        "risk": draw(risks()),
        "flags": draw(st.lists(st.sampled_from(["adult_at_risk", "stalking", "separation"]), unique=True)),
        "children": draw(children(reported, draw(st.integers(0, 3)))),
        "consent_to_share": draw(st.booleans()),
    }
    if draw(st.booleans()):
        notification["perpetrator"] = {"person_id": perpetrator, "relationship": "partner",
                                       "date_of_birth": born(reported, draw(st.integers(12, 80)), 10)}
    if draw(st.booleans()):
        notification["protective_notice"] = {
            "type": "DVPN", "issued_at": reported.isoformat(),
            "expires_at": (reported + timedelta(hours=draw(st.integers(1, 700)))).isoformat()}
    return parse_incident(json.dumps(notification), CONFIG)


def victim_age(incident) -> int:
    d: date = incident.victim.date_of_birth
    r = incident.reported_date
    return r.year - d.year - ((r.month, r.day) < (d.month, d.day))


@given(incidents())
def test_a_victim_aged_16_or_over_gets_one_victim_pathway_when_they_consented(incident):
    decided = [d.pathway for d in decide(incident, History(), CONFIG) if d.pathway in VICTIM_PATHWAYS]
    if victim_age(incident) < 16:
        assert decided == []  # a child protection matter: MASH IDVA only
    elif incident.consent_to_share:
        assert len(decided) == 1
    else:
        assert decided in ([], ["MARAC"])  # no support service without consent; MARAC regardless


@given(incidents())
def test_marac_always_has_a_reason_and_an_idva_with_the_same_reasons(incident):
    by_pathway = {d.pathway: d.reasons for d in decide(incident, History(), CONFIG)}
    assert ("MARAC" in by_pathway) == ("IDVA" in by_pathway)
    if "MARAC" in by_pathway:
        assert by_pathway["MARAC"] and by_pathway["MARAC"] == by_pathway["IDVA"]


@given(incidents())
def test_decisions_are_deterministic_and_each_is_due_after_the_report(incident):
    first, second = decide(incident, History(), CONFIG), decide(incident, History(), CONFIG)
    assert first == second and [d.referral_id for d in first] == [d.referral_id for d in second]
    assert all(d.due_at > incident.reported_at for d in first)
    assert len({d.referral_id for d in first}) == len(first)


@given(incidents())
def test_no_decision_names_a_person_or_recipient_who_is_not_in_the_incident_or_configuration(incident):
    people = {incident.victim.person_id, *(c.person_id for c in incident.children)}
    if incident.perpetrator:
        people.add(incident.perpetrator.person_id)
    recipients = {r.id for r in CONFIG.agencies()} | {
        s.recipient_id for s in CONFIG.education_settings.values()}
    for decision in decide(incident, History(), CONFIG):
        assert decision.subject_id in people and decision.recipient in recipients
        assert decision.reasons and decision.explanation


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50)
@given(st.lists(incidents(), min_size=1, max_size=6))
def test_replaying_any_incident_changes_nothing(sequence):
    router = OfflineRouter(CONFIG)
    for incident in sorted(sequence, key=lambda i: i.reported_at):
        router.route(incident)
    for incident in sequence:
        assert router.route(incident) == []
