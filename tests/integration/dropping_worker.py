"""A faust worker whose stream drops offsets 3 to 6 once, as faust's own stream did to notify
after a restart (referral_hub/adapters/every_event.py). Prints each offset its agent processes, then
exits once every one of `count` offsets is processed and committed (or after 45 s).
Run by tests/integration/test_every_event.py: python -m tests.integration.dropping_worker
BOOTSTRAP TOPIC GROUP COUNT"""
import os
import sys
import time

import faust

from referral_hub.adapters.every_event import EveryEvent
from referral_hub.adapters.logs import configure_logging

DROPPED_ONCE = range(3, 7)
GIVE_UP_AFTER_SECONDS = 45.0


class DroppingOnce:
    """Stands between faust's stream and the guard, and loses some events the first time."""

    def __init__(self, stream: faust.StreamT):
        self._stream, self._dropped = stream, set()

    def noack(self) -> "DroppingOnce":
        self._stream = self._stream.noack()
        return self

    async def events(self):
        async for event in self._stream.events():
            offset = event.message.offset
            if offset in DROPPED_ONCE and offset not in self._dropped:
                self._dropped.add(offset)
                continue
            yield event

    async def ack(self, event: faust.EventT) -> bool:
        return await self._stream.ack(event)


def main(bootstrap: str, topic_name: str, group: str, count: int) -> None:
    configure_logging("dropping-worker")  # JSON lines on stderr, as the services'
    app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                    broker_commit_every=1)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    guard = EveryEvent(app)

    @app.agent(topic)
    async def consume(stream):
        async for event in guard.events(DroppingOnce(stream)):
            print(event.message.offset, flush=True)

    give_up_at = time.monotonic() + GIVE_UP_AFTER_SECONDS

    @app.timer(interval=0.5)
    async def stop_when_all_committed():
        committed = app.consumer._committed_offset.get(faust.types.TP(topic_name, 0))
        if committed == count or time.monotonic() > give_up_at:
            print("committed" if committed == count else f"committed only up to {committed}",
                  flush=True)
            os._exit(0)  # the test needs no clean shutdown, only what was seen

    worker = faust.Worker(app, loglevel="WARNING", override_logging=False, quiet=True,
                          redirect_stdouts=False)
    worker.spinner = None  # it writes terminal escapes to stdout
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
