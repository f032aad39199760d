"""The time the services act on. Real time, unless RH_CLOCK_FILE names a file holding an
RFC 3339 timestamp: then that is the time, so tests can move deadlines past without waiting."""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


class Clock:
    def __init__(self, file: Path | None = None):
        self._file = file
        self._read: tuple[tuple[int, int, int], datetime | None] | None = None  # (file's identity, its time)

    def now(self) -> datetime:
        return self._set_time() or datetime.now(UTC)

    def _set_time(self) -> datetime | None:
        """The file's time, read again only when the file changed (set_clock_file renames a
        new one into place): read on every call, it was a tenth of the router's time in a
        replay, which runs on a set clock."""
        if not self._file:
            return None
        try:
            stat = os.stat(self._file)
        except FileNotFoundError:
            return None
        identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._read is None or self._read[0] != identity:
            text = self._file.read_text().strip()
            self._read = identity, datetime.fromisoformat(text).astimezone(UTC) if text else None
        return self._read[1]


def set_clock_file(file: Path, moment: datetime) -> None:
    """Make `moment` the time of the services reading `file` (tests, the demo). Written
    whole, then renamed into place: a service reading while it is written would otherwise
    see an empty file, take real time, and find every deadline past."""
    draft = file.with_name(file.name + ".new")
    draft.write_text(moment.isoformat())
    os.replace(draft, file)
