"""What waits for a webhook: per victim and recipient, oldest first, each referral once."""
from datetime import UTC, datetime, timedelta

from referral_hub.services.notify.webhook_queue import (
    after_failure,
    drop_head,
    due_recipients,
    enqueue,
    head,
    new_entry,
    next_step,
    postponed,
    record_of,
    replace_head,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def entry(referral_id: str, at: datetime = NOW) -> dict:
    return new_entry(referral_id, f"avro bytes of {referral_id}".encode(), at)


def test_a_victims_referrals_wait_in_arrival_order_and_only_the_oldest_is_tried():
    queues = enqueue(enqueue({}, "idva", entry("ref-1")), "idva", entry("ref-2"))
    assert head(queues, "idva")["referral_id"] == "ref-1"
    queues = drop_head(queues, "idva")
    assert head(queues, "idva")["referral_id"] == "ref-2"
    assert drop_head(queues, "idva") == {}


def test_a_replayed_referral_is_not_queued_twice():
    queues = enqueue({}, "idva", entry("ref-1"))
    assert enqueue(queues, "idva", entry("ref-1", NOW + timedelta(minutes=5))) == queues


def test_recipients_wait_separately():
    queues = enqueue(enqueue({}, "idva", entry("ref-1")), "marac", entry("ref-2"))
    failed = replace_head(queues, "idva", after_failure(head(queues, "idva"), NOW + timedelta(minutes=1)))
    assert due_recipients(failed, NOW) == ["marac"]
    assert due_recipients(failed, NOW + timedelta(minutes=1)) == ["idva", "marac"]


def test_a_failure_counts_an_attempt_and_a_postponement_does_not():
    first = entry("ref-1")
    failed = after_failure(first, NOW + timedelta(seconds=20))
    assert failed["attempts"] == 1 and failed["next_at"] == (NOW + timedelta(seconds=20)).isoformat()
    waiting = postponed(failed, NOW + timedelta(seconds=10))  # never earlier than it was
    assert waiting["attempts"] == 1 and waiting["next_at"] == failed["next_at"]
    assert postponed(first, NOW + timedelta(hours=1))["next_at"] == (NOW + timedelta(hours=1)).isoformat()


def test_the_record_survives_the_json_table():
    assert record_of(entry("ref-1")) == b"avro bytes of ref-1"


DAY = timedelta(hours=24)


def test_a_head_is_attempted_once_due_unless_the_recipient_is_known_to_be_down():
    waiting = after_failure(entry("ref-1"), NOW + timedelta(minutes=5))
    assert next_step(waiting, NOW, None, DAY) == "wait"
    assert next_step(waiting, NOW + timedelta(minutes=5), None, DAY) == "attempt"
    assert next_step(waiting, NOW + timedelta(minutes=5), NOW + timedelta(minutes=5), DAY) == "attempt"
    assert next_step(waiting, NOW + timedelta(minutes=5), NOW + timedelta(minutes=9), DAY) == "postpone"


def test_a_head_out_of_time_is_given_up_while_the_recipient_is_down_and_tried_once_more_otherwise():
    # Queued a day ago: another victim's referral has just found the recipient down.
    old = entry("ref-1", NOW - DAY)
    assert next_step(old, NOW, NOW + timedelta(minutes=20), DAY) == "give_up"
    assert next_step(old, NOW, None, DAY) == "attempt"  # e.g. after a restart: one last try
    assert next_step(old, NOW - timedelta(seconds=1), NOW + timedelta(minutes=20), DAY) == "postpone"
