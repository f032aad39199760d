"""A person id corrected by a later version, at its edges (incident-notification.md, Amendments
and withdrawals): what the earlier victim's recipients are told and why, a departure replayed
or out of date changing nothing, and the due time of a perpetrator's referral that only a later
version brings about (from the later of reported_at and sent_at; a first version's own
referrals from reported_at, however late it is sent)."""
import io
import json

import pytest

from referral_hub.commands.route import route_lines
from referral_hub.config import load_config
from referral_hub.core.history import VictimHistory
from referral_hub.core.revisions import depart_victim, revise_for_victim
from referral_hub.core.validation import parse_incident
from referral_hub.settings import REPO_ROOT
from tests.factories import incident

CONFIG = load_config(REPO_ROOT / "config")
OLD, NEW = "MP-P-88123", "MP-P-88124"  # the example's victim, and the corrected id
CHILD = "MP-P-90001"
REFERENCE = "merseyside/MP-2026-0004711"
WITHDRAWN = {"status": "withdrawn", "withdrawal_reason": "wrong_person"}
KNOWSLEY = {"local_authority": "E08000011", "children": []}  # an area with a MATAC
SENT_LATE = "2026-11-24T10:00:00Z"  # the example is reported 2026-11-20T22:14Z


def parsed(notification: dict):
    return parse_incident(json.dumps(notification), CONFIG)


def printed(*notifications: dict) -> list[dict]:
    """What `referral-hub route --explain` prints for these lines."""
    out = io.StringIO()
    route_lines(io.StringIO("".join(json.dumps(n) + "\n" for n in notifications)), out, io.StringIO(),
                CONFIG, explain=True)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def printed_for_last(*notifications: dict) -> list[dict]:
    """What it prints for the last line, after the others."""
    return printed(*notifications)[len(printed(*notifications[:-1])):]


# --- the earlier victim's recipients ---------------------------------------------------------

def test_a_corrected_victim_id_tells_the_earlier_victims_recipients_why_their_referrals_go():
    """The child is still named: the school keeps its referral (the new victim's history makes
    it again, the same id); the earlier victim's own referrals are recalled, saying why."""
    lines = printed_for_last(incident(), incident(version=2, victim__person_id=NEW))
    recalls = [line for line in lines if line["action"] == "recall"]
    assert CHILD not in {r["subject_id"] for r in recalls}
    assert [(r["pathway"], r["subject_id"], r["reasons"], r["explanation"]) for r in recalls] == [
        (pathway, OLD, ["subject_removed"], ["subject_removed: version 2 names another victim"])
        for pathway in ("MARAC", "IDVA", "MASH_IDVA")]


def test_a_withdrawal_naming_another_victim_recalls_every_referral_the_incident_made_with_its_reason():
    first = {line["referral_id"]: line for line in printed(incident())}
    lines = printed_for_last(incident(), incident(version=2, victim__person_id=NEW, **WITHDRAWN))
    assert {line["referral_id"] for line in lines} == set(first)  # the child's too; nothing made for NEW
    assert {(line["action"], tuple(line["reasons"]), tuple(line["explanation"])) for line in lines} == {
        ("recall", ("wrong_person",), ("wrong_person: the force withdrew the incident: wrong_person",))}
    assert all(line["due_at"] == first[line["referral_id"]]["due_at"] for line in lines)


# --- a departure that changes nothing --------------------------------------------------------

def holding(version: int) -> VictimHistory:
    """The earlier victim's history with the given version of the example incident."""
    history = VictimHistory()
    for number in range(1, version + 1):
        history = revise_for_victim(parsed(incident(version=number)), history, CONFIG).history
    return history


def test_a_replayed_departure_changes_nothing():
    """At least once: the departure of version 2 reaches the earlier victim again."""
    let_go = depart_victim(parsed(incident(version=2, victim__person_id=NEW)), holding(1), CONFIG)
    assert [(d.action, d.pathway) for d in let_go.actions] == [("recall", "MARAC"), ("recall", "IDVA"),
                                                                ("recall", "MASH_IDVA")]
    assert not let_go.history.has(REFERENCE)
    again = depart_victim(parsed(incident(version=2, victim__person_id=NEW)), let_go.history, CONFIG)
    assert (again.stale, again.actions, again.history) == (True, [], let_go.history)


@pytest.mark.parametrize("held, departing", [
    (2, 2),  # the same version departing again
    (3, 2),  # version 3 came back to the earlier victim before version 2's departure reached it
    (2, 1),  # an older version still
])
def test_a_departure_no_higher_than_the_version_the_victim_holds_changes_nothing(held, departing):
    """(Streaming: the versions travel on two victims' partitions.) The incident stays."""
    history = holding(held)
    revision = depart_victim(parsed(incident(version=departing, victim__person_id=NEW)), history, CONFIG)
    assert (revision.stale, revision.actions, revision.history) == (True, [], history)


# --- a perpetrator's referral first made by a later version -----------------------------------

def matac(*notifications: dict) -> dict:
    """The MATAC line `referral-hub route` prints for the last notification."""
    [line] = [line for line in printed_for_last(*notifications) if line["pathway"] == "MATAC"]
    return line


def earlier_victims_incident(perpetrator: str) -> dict:
    """The same perpetrator with another victim in May: with the example, a serial perpetrator."""
    return incident(incident_id="MP-K-1", reported_at="2026-05-01T10:00:00Z", victim__person_id="MP-P-77001",
                    perpetrator__person_id=perpetrator, **KNOWSLEY)


@pytest.mark.parametrize("version", [2, 3])
def test_a_corrected_perpetrators_matac_referral_is_due_28_days_from_the_versions_sending(version):
    """The corrected perpetrator's history sees this version first: its referral is first made by
    an amendment, due from the later of reported_at and sent_at."""
    versions = [incident(version=n, **KNOWSLEY) for n in range(1, version)]
    corrected = incident(version=version, perpetrator__person_id="MP-P-40008", sent_at=SENT_LATE, **KNOWSLEY)
    line = matac(earlier_victims_incident("MP-P-40008"), *versions, corrected)
    # MATAC: 28 days (pathways.md), from sent_at 2026-11-24T10:00Z
    assert (line["action"], line["subject_id"], line["due_at"]) == ("refer", "MP-P-40008", "2026-12-22T10:00:00Z")


def test_a_first_version_sent_late_has_its_matac_referral_due_28_days_from_reported_at():
    """A notification's own referrals are due from reported_at: its lateness shows as lateness."""
    line = matac(earlier_victims_incident("MP-P-40007"), incident(sent_at=SENT_LATE, **KNOWSLEY))
    # 28 days from reported_at 2026-11-20T22:14Z, not from sent_at
    assert (line["action"], line["subject_id"], line["due_at"]) == ("refer", "MP-P-40007", "2026-12-18T22:14:00Z")
