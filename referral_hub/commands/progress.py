"""Progress of long work on stderr, so a command reading or writing a month shows life.

A line at most every few seconds (never one per record), then one when the work is done;
stdout stays the command's output alone.
"""
from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(self, err: TextIO, command: str, what: str, total: int | None = None,
                 every_seconds: float = 2.0):
        self.err, self.command, self.what, self.total = err, command, what, total
        self.every, self.done = every_seconds, 0
        self.last_shown = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if time.monotonic() - self.last_shown >= self.every:
            self._show()

    def finish(self) -> None:
        self._show()

    def _show(self) -> None:
        of_total = f" of {self.total}" if self.total is not None else ""
        print(f"{self.command}: {self.what}: {self.done}{of_total}", file=self.err, flush=True)
        self.last_shown = time.monotonic()
