"""The time the services act on. Real time, unless RH_CLOCK_FILE names a file holding an
RFC 3339 timestamp: then that is the time, so tests can move deadlines past without waiting."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


class Clock:
    def __init__(self, file: Path | None = None):
        self._file = file

    def now(self) -> datetime:
        if self._file and self._file.exists():
            text = self._file.read_text().strip()
            if text:
                return datetime.fromisoformat(text).astimezone(UTC)
        return datetime.now(UTC)


def set_clock_file(file: Path, moment: datetime) -> None:
    """Make `moment` the time of the services reading `file` (tests, the demo). Written
    whole, then renamed into place: a service reading while it is written would otherwise
    see an empty file, take real time, and find every deadline past."""
    draft = file.with_name(file.name + ".new")
    draft.write_text(moment.isoformat())
    os.replace(draft, file)
