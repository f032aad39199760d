"""Every event of a faust agent's topics, none skipped: a guard around faust's consumer.

faust can skip events. Seen in our restart test (tests/integration/test_notify_restart.py):
a notify restarted during a burst processed offsets 1 and 2 of a deliveries.v1 partition,
then 7 onwards. Offsets 3 to 6 never reached the agent, and their referrals stayed
undelivered until the next restart (faust never acked them, so never committed past them).
faust's stream drops events it holds whenever its flow control is paused, and it does not
always go back for them.

Our input topics are neither compacted nor written in transactions, so a partition's
offsets have no holes: an event past the next expected offset means faust dropped the ones
before it. The guard then holds the later events back, unacknowledged, and seeks the
partition back to the first missing offset, until that offset arrives. Its seek can be
overtaken by a batch faust is still handing out, so it is repeated every few seconds until
the missing event comes. Earlier offsets than expected are faust going back to its last
commit after a rebalance: processed again, as at-least-once allows (every agent is idempotent).
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal

import faust
from faust.types import TP

from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import SKIPPED_EVENTS

log = get_logger()
SEEK_AGAIN_AFTER_SECONDS = 3.0

Step = Literal["process", "go_back"]


def next_step(expected: int | None, offset: int) -> Step:
    """`expected`: the offset after the last one processed in this partition since the last
    rebalance; before the first, the group's committed offset (None: not known)."""
    return "go_back" if expected is not None and offset > expected else "process"


class EveryEvent:
    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._generation: int | None = None
        self._expected: dict[TP, int] = {}
        self._going_back: dict[TP, tuple[int, float]] = {}  # tp -> (offset, monotonic time sought)
        app.timer(interval=SEEK_AGAIN_AFTER_SECONDS)(self._seek_again)

    async def events(self, stream: faust.StreamT) -> AsyncIterator[faust.EventT]:
        """The stream's events in offset order per partition; each acked once the agent
        asks for the next one, as faust would."""
        async for batch in self.batches(stream, most=1):
            yield batch[0]

    async def batches(self, stream: faust.StreamT, most: int) -> AsyncIterator[list[faust.EventT]]:
        """The same events in batches of those faust has ready (at most `most`), so an agent
        can wait for the broker once per batch rather than once per record. A batch is
        acked once the agent asks for the next one."""
        manual, batch = stream.noack(), []
        async for event in manual.events():
            message = event.message
            if message.generation_id != self._generation:  # a rebalance: faust sought again
                self._generation, self._expected, self._going_back = message.generation_id, {}, {}
            tp = message.tp
            if tp not in self._expected:
                self._expected[tp] = await self._where_faust_should_start(tp)
            expected = self._expected[tp]
            if next_step(expected, message.offset) == "go_back":
                # never acked, so never committed: it comes again after the seek
                self._let_go(message)
                await self._go_back(tp, expected, message.offset)
            else:
                self._going_back.pop(tp, None)
                self._expected[tp] = message.offset + 1
                batch.append(event)
            if batch and (len(batch) >= most or _nothing_ready(stream)):
                yield batch
                for done in batch:
                    await manual.ack(done)
                batch = []

    async def _where_faust_should_start(self, tp: TP) -> int | None:
        """The group's committed offset, else the partition's first. After a rebalance faust
        can hand out a partition's events from past its committed offset: seen in a rolling
        restart of two routers, and faust then commits past the ones it skipped (it takes
        gaps for transaction markers), so they were lost for good."""
        thread = self._app.consumer._thread  # aiokafka's consumer runs in faust's thread
        committed = await thread.call_thread(thread._ensure_consumer().committed, tp)
        if committed is None:
            committed = (await self._app.consumer.earliest_offsets(tp)).get(tp)
        return committed

    def _let_go(self, message) -> None:
        """faust waits, before it gives up partitions in a rebalance, until every message it
        handed out is acked. One held back here is never acked (it comes again, as another
        message, after the seek), so the worker waited for ever: seen in the cluster test, a
        router stuck in `wait_empty` after a SIGKILL's rebalance, never ready again. faust is
        told not to wait for it; not being acked, it still moves no commit."""
        self._app.consumer._unacked_messages.discard(message)

    async def _go_back(self, tp: TP, missing: int, seen: int) -> None:
        if self._going_back.get(tp, (None,))[0] == missing:
            return  # already sought there; a later event of the same batch
        SKIPPED_EVENTS.labels(tp.topic).inc(seen - missing)
        log.warning("skipped_events_read_again", topic=tp.topic, partition=tp.partition,
                    offset=missing, count=seen - missing)
        await self._seek(tp, missing)

    async def _seek(self, tp: TP, offset: int) -> None:
        self._going_back[tp] = (offset, time.monotonic())
        await self._app.consumer.seek(tp, offset)

    async def _seek_again(self) -> None:
        due = time.monotonic() - SEEK_AGAIN_AFTER_SECONDS
        for tp, (offset, sought) in list(self._going_back.items()):
            if sought <= due:
                await self._seek(tp, offset)


def _nothing_ready(stream) -> bool:
    """Whether faust's buffer for the agent is empty (a stand-in stream may have none)."""
    channel = getattr(stream, "channel", None)
    return channel is None or channel.empty()
