"""When the router may forget a person: every incident of theirs more than the longest window
of any area before today (UK calendar days), and not a day sooner."""
import json
from datetime import date, datetime

import pytest

from referral_hub.config import load_config
from referral_hub.core.history import PairHistory, PairIncident, PriorIncident, VictimHistory
from referral_hub.settings import REPO_ROOT
from tests.unit.test_config import config_dir, edit  # noqa: F401 (a fixture)

KEEP_DAYS = 1098  # 3 years of MATAC's window, 366 days each


def victim_history(*reported: str) -> VictimHistory:
    return VictimHistory(tuple(PriorIncident(f"merseyside/I{n}", datetime.fromisoformat(at), False)
                               for n, at in enumerate(reported)))


@pytest.mark.parametrize("today, forgotten", [
    (date(2026, 6, 10), False),  # the last incident 1,097 days before
    (date(2026, 6, 11), False),  # 1,098: the last day a rule can look back to it
    (date(2026, 6, 12), True),   # 1,099
])
def test_a_person_is_forgotten_the_day_after_the_longest_window_ends(today, forgotten):
    history = victim_history("2023-06-09T10:00:00+00:00")
    assert history.forgotten(today, KEEP_DAYS) is forgotten


def test_the_days_are_uk_days():
    """23:30 UTC on a summer day is already the next day in the UK: one day nearer today."""
    history = victim_history("2023-06-09T23:30:00+00:00")  # 10 June in the UK
    assert not history.forgotten(date(2026, 6, 12), KEEP_DAYS)


def test_one_recent_incident_keeps_the_whole_history():
    history = victim_history("2020-01-01T10:00:00+00:00", "2026-01-01T10:00:00+00:00")
    assert not history.forgotten(date(2026, 6, 12), KEEP_DAYS)


def test_pair_histories_are_forgotten_alike():
    history = PairHistory((PairIncident("merseyside/I1", "V1", datetime.fromisoformat("2023-06-09T10:00:00+00:00")),))
    assert history.forgotten(date(2026, 6, 12), KEEP_DAYS)
    assert not history.forgotten(date(2026, 6, 11), KEEP_DAYS)


def test_the_longest_window_is_the_longest_of_any_areas_rules(config_dir):  # noqa: F811
    assert load_config(REPO_ROOT / "config").longest_window_days == KEEP_DAYS
    edit(config_dir / "areas" / "halton.toml", "serial_perpetrator_years = 3", "serial_perpetrator_years = 5")
    assert load_config(config_dir).longest_window_days == 5 * 366


def test_an_incidents_last_version_is_forgotten_with_its_people():
    from referral_hub.core.revisions import LastVersion
    from referral_hub.core.validation import parse_incident
    from tests.factories import incident
    config = load_config(REPO_ROOT / "config")
    notification = parse_incident(json.dumps(incident(reported_at="2023-06-09T10:00:00Z")), config)
    last = LastVersion(notification.key, 1, notification.model_dump_json())
    assert not last.forgotten(date(2026, 6, 11), KEEP_DAYS)
    assert last.forgotten(date(2026, 6, 12), KEEP_DAYS)
