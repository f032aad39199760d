"""The guard that reads again what faust's consumer skipped (referral_hub/adapters/every_event.py)."""
from referral_hub.adapters.every_event import next_step


def test_the_next_offset_is_processed():
    assert next_step(expected=3, offset=3) == "process"


def test_an_offset_past_the_next_means_events_were_skipped():
    # offsets 3 to 6 never reached the agent: go back for them before 7
    assert next_step(expected=3, offset=7) == "go_back"


def test_an_earlier_offset_is_faust_going_back_to_its_last_commit():
    assert next_step(expected=7, offset=3) == "process"


def test_the_first_event_after_a_rebalance_is_processed_whatever_its_offset():
    assert next_step(expected=None, offset=42) == "process"
