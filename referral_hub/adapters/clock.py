"""The time the services act on. Real time, unless RH_CLOCK_FILE names a file holding an
RFC 3339 timestamp: then that is the time, so tests can move deadlines past without waiting."""
from __future__ import annotations

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
