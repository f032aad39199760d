"""The router forgets a person its rules will never look back to (services/router/forgetting.py):
their keys leave the three history tables (and the incident leaves the incident stage's), so the tables' changelogs get a tombstone and a
restarted router does not bring them back; a person with a recent incident stays."""
import re
from datetime import UTC, datetime, timedelta

import httpx

from referral_hub.adapters.topics import REFERRALS
from referral_hub.config import load_config
from referral_hub.settings import REPO_ROOT
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident

LONGEST_WINDOW_DAYS = load_config(REPO_ROOT / "config").longest_window_days
CHANGELOGS = {history: f"referral-hub-router-{history}-history-changelog"
              for history in ("victim", "pair", "perpetrator")} | {
    "incident": "referral-hub-router-incident-versions-changelog"}


def keys(notification: dict) -> dict[str, str]:
    force, victim, perpetrator = (notification["force"], notification["victim"]["person_id"],
                                  notification["perpetrator"]["person_id"])
    return {"victim": f"{force}:{victim}", "perpetrator": f"{force}:{perpetrator}",
            "pair": f"{force}:{'|'.join(sorted((victim, perpetrator)))}",
            "incident": f"{force}/{notification['incident_id']}"}


def changes(reader, key: str) -> list:
    """The values a history's changelog holds for one key, in order (None: deleted)."""
    return [value for stored, value in reader.records if stored == f'"{key}"']


def forgotten_count(hub, history: str) -> float:
    text = httpx.get(f"{hub.urls()['router']}/metrics", timeout=10).text
    found = re.search(rf'referral_hub_histories_forgotten_total\{{history="{history}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_a_person_last_seen_before_the_longest_window_leaves_every_history_and_a_recent_one_stays(
        api, topic, hub):
    long_ago = datetime.now(UTC) - timedelta(days=LONGEST_WINDOW_DAYS + 2)
    old = fresh_incident(reported_at=long_ago.isoformat(), occurred_at=None, children=[])
    recent = fresh_incident(children=[])
    before = forgotten_count(hub, "victim")
    referrals = topic(REFERRALS, "referral")
    for notification in (old, recent):
        assert post_incident(api, notification).status_code == 202
    referrals.wait_for(lambda _: all(referrals.values(incident_id=n["incident_id"]) for n in (old, recent)),
                       "both incidents routed")

    for history, name in CHANGELOGS.items():
        changelog = topic(name)
        old_key, recent_key = keys(old)[history], keys(recent)[history]
        # the recent person's is written last by the perpetrator stage: waited for too
        changelog.wait_for(lambda _: changes(changelog, old_key)[-1:] == [None] and changes(changelog, recent_key),
                           f"the old person's {history} history deleted, the recent one's recorded")
        assert None not in changes(changelog, recent_key), f"the recent person's {history} history stays"
    assert forgotten_count(hub, "victim") >= before + 1
