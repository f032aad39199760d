"""Reading topics in tests: everything from the beginning, decoded, until a condition holds."""
from __future__ import annotations

import json
import time
from typing import Callable

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import load_config
from referral_hub.commands.demo import DEMO_API_KEYS, demo_recipient_token
from referral_hub.adapters.kafka import replay_consumer
from referral_hub.settings import REPO_ROOT, KafkaSettings

WAIT = 60.0
READ_BEFORE_CHECKING = 500
CONFIG = load_config(REPO_ROOT / "config")


class TopicReader:
    def __init__(self, kafka: KafkaSettings, codec: AvroCodec, topic: str, schema: str | None):
        self.codec, self.schema, self.records = codec, schema, []
        self.consumer = replay_consumer(kafka, topic)

    def _poll(self) -> bool:
        """Read one record if one comes within a moment; whether one did."""
        message = self.consumer.poll(0.2)
        if message is None:
            return False
        if not message.error():
            value = message.value()
            if self.schema == "any":  # recipient topics: the record type names itself
                decoded = self.codec.decode_any(value)[1]
            else:
                decoded = self.codec.decode(self.schema, value) if self.schema else value
            self.records.append((message.key().decode() if message.key() else None, decoded))
        return True

    def wait_for(self, condition: Callable[[list], bool], what: str | Callable[[], str],
                 timeout: float = WAIT) -> list:
        """Read until condition(records) holds; fail naming what was awaited (`what()` is
        asked at the timeout, so it can say what is still missing)."""
        deadline = time.monotonic() + timeout
        while not condition(self.records):
            if time.monotonic() > deadline:
                awaited = what() if callable(what) else what
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {awaited}")
            for _ in range(READ_BEFORE_CHECKING):  # the condition may read every record
                if not self._poll():
                    break
        return self.records

    def read_to_end(self) -> list:
        """Everything on the topic now: enough for what the API wrote before it answered."""
        ends = {tp.partition: self.consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in self.consumer.assignment()}

        def caught_up(_records) -> bool:
            return all(self.consumer.position([tp])[0].offset >= ends[tp.partition]
                       for tp in self.consumer.assignment() if ends[tp.partition] > 0)
        return self.wait_for(caught_up, "the end of the topic")

    def values(self, **match) -> list[dict]:
        return [v for _, v in self.records if all(v.get(k) == x for k, x in match.items())]

    def close(self) -> None:
        self.consumer.close()


def post_incident(api, notification: dict, force: str = "merseyside"):
    return api.post("/v1/incidents", content=json.dumps(notification),
                    headers={"Authorization": f"Bearer {DEMO_API_KEYS[force]}",
                             "Content-Type": "application/json"})


def report_contact(api, referral: dict, kind: str, at, token: str | None = None):
    """POST a recipient's report on a referral, with the demo token of its recipient."""
    token = token or demo_recipient_token(CONFIG, referral["recipient"], referral["area"])
    return api.post(f"/v1/referrals/{referral['referral_id']}/events",
                    json={"type": kind, "at": at if isinstance(at, str) else at.isoformat()},
                    headers={"Authorization": f"Bearer {token}"})


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def posted_referral(api, topic, notification: dict, pathway: str) -> dict:
    """Post a notification and return its referral on the given pathway, once decided."""
    from referral_hub.adapters.topics import REFERRALS
    assert post_incident(api, notification, notification["force"]).status_code == 202
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: referrals.values(incident_id=notification["incident_id"], pathway=pathway),
                       f"the {pathway} referral")
    return referrals.values(incident_id=notification["incident_id"], pathway=pathway)[0]


def route_output(record: dict) -> dict:
    """A referrals.v1 record as `referral-hub route` prints the same action."""
    return {"incident_id": record["incident_id"], "pathway": record["pathway"],
            "subject_id": record["subject_id"], "recipient": record["recipient"],
            "reasons": record["reasons"], "due_at": record["due_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "action": record["action"], "referral_id": record["referral_id"],
            "related_incidents": record["related_incidents"]}


def post_restarting_the_router(api, hub, burst: list[dict], after: int, kill: bool) -> None:
    """Post a burst, killing (or stopping) the router once the notification at `after` is
    in; start it again."""
    for index, notification in enumerate(burst):
        assert post_incident(api, notification, notification["force"]).status_code == 202
        if index == after:
            (hub.kill_one if kill else hub.stop_one)("router")
    hub.start_one("router")
    hub.wait_ready(timeout=60)
