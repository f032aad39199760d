"""A school's acknowledgement link for a notification the police withdrew says only that."""
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from referral_hub.adapters.ack_tokens import issue
from referral_hub.services.ingest.acknowledge import acknowledgement_routes
from tests.factories import ENCOMPASS_REFERRAL_ID

SECRET = "unit-test-secret-0123456789abcdef"


class WithdrawnStore:
    """What EncompassNotifications keeps once a recall arrives: that it was withdrawn."""

    def get(self, referral_id):
        return {"withdrawn": True} if referral_id == ENCOMPASS_REFERRAL_ID else None

    async def acknowledge(self, referral_id, at):
        raise AssertionError("a withdrawn notification cannot be acknowledged")


class Clock:
    def now(self):
        return datetime(2026, 11, 23, 8, 2, tzinfo=UTC)


def test_the_page_says_withdrawn_and_nothing_else_and_cannot_be_acknowledged():
    app = FastAPI()
    app.include_router(acknowledgement_routes(WithdrawnStore(), SECRET, Clock()))
    client = TestClient(app)
    token = issue(ENCOMPASS_REFERRAL_ID, SECRET)
    for answer in (client.get(f"/acknowledge/{token}"), client.post(f"/acknowledge/{token}")):
        assert answer.status_code == 410
        assert "This notification has been withdrawn" in answer.text
        assert "Acknowledge" not in answer.text and ENCOMPASS_REFERRAL_ID not in answer.text
        assert answer.headers["Cache-Control"] == "no-store"
