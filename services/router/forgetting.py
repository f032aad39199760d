"""The router forgets people, and incidents, its rules will never look back to.

A history is bounded by the longest window when its person's next incident is recorded,
but a person never seen again would keep a key, and the notifications it holds, in the
router's tables for ever, and so would every incident in the incident stage's table: the
tables, their changelogs and the router's memory would grow with everything ever seen.
Every RH_HISTORY_CHECK_SECONDS a timer looks through the tables for people whose every
incident lies more than the longest window of any area before today
(HubConfig.longest_window_days; history._PersonHistory.forgotten), and incidents that old
(revisions.LastVersion.forgotten), and sends each one's key to history-expiries.v1. Timers
cannot write faust tables, so the agent that owns the key's partition deletes it, after
looking again: an incident recorded since the timer looked keeps the person.

history-expiries.v1 has as many partitions as the histories' topics and is keyed like them,
so a key's expiry lands on the partition, and the worker, that holds its history.

What this gives up: a notification about an incident older than the longest window, or a
new version of one, arriving after its person was forgotten, is decided as if the router
had never seen the person or the incident.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import faust

from referral_hub.adapters.clock import Clock
from referral_hub.adapters.logs import get_logger
from referral_hub.adapters.metrics import HISTORIES_FORGOTTEN
from referral_hub.adapters.streaming import agent, each_event, raw_topic, send_and_wait
from referral_hub.adapters.topics import HISTORY_EXPIRIES
from referral_hub.config import HubConfig
from referral_hub.core.history import uk_day
from referral_hub.settings import HubSettings

log = get_logger()
BATCH = 200  # expiries at most acknowledged together
LOOK_AT_ONCE = 500  # keys the timer reads before it lets the agents run again


@dataclass(frozen=True)
class History:
    """One of the router's tables, and how to read a value of it (into something with
    `forgotten(today, keep_days)`)."""
    table: faust.TableT
    parse: Callable


def add_forgetting(app: faust.App, settings: HubSettings, config: HubConfig, clock: Clock,
                   histories: dict[str, History]) -> None:
    expiries = raw_topic(app, HISTORY_EXPIRIES)
    keep_days = config.longest_window_days
    for name in histories:  # every history's series from the start, at 0
        HISTORIES_FORGOTTEN.labels(name)

    def forgotten(history: History, value) -> bool:
        return bool(value) and history.parse(value).forgotten(uk_day(clock.now()), keep_days)

    @app.timer(interval=settings.history_check_seconds)
    async def look_for_people_to_forget():
        for name, history in histories.items():
            keys = list(history.table.keys())  # the table changes while the agents run
            for start in range(0, len(keys), LOOK_AT_ONCE):
                await asyncio.gather(asyncio.sleep(0), *(  # a year of people is seconds of
                    send_and_wait(expiries, key, name.encode())  # parsing: the agents go on
                    for key in keys[start:start + LOOK_AT_ONCE]
                    if forgotten(history, history.table.get(key))))

    @agent(app, expiries, batches_of=BATCH)
    async def forget_people(batches):
        async for events in batches:
            for event in each_event(events):
                name, key = event.value.decode(), event.key.decode()
                history = histories[name]
                if key in history.table and forgotten(history, history.table[key]):
                    del history.table[key]
                    HISTORIES_FORGOTTEN.labels(name).inc()
                    log.info("history_forgotten", history=name)
