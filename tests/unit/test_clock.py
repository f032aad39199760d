"""The clock file the tests and the demo move: a service reading it never sees half a write."""
import threading
from datetime import UTC, datetime, timedelta

from referral_hub.adapters.clock import Clock, set_clock_file

START = datetime(2026, 11, 23, 7, 15, tzinfo=UTC)


def test_the_services_read_the_time_set(tmp_path):
    file = tmp_path / "clock"
    set_clock_file(file, START)
    assert Clock(file).now() == START
    assert [path.name for path in tmp_path.iterdir()] == ["clock"]


def test_a_reader_during_the_writes_sees_only_times_set(tmp_path):
    """Written in place, a read in the middle of a write found an empty file and took real
    time: every deadline in the demo was past at once."""
    file = tmp_path / "clock"
    set_clock_file(file, START)
    moments = [START + timedelta(minutes=n) for n in range(300)]
    seen, done = set(), threading.Event()

    def read_until_done():
        clock = Clock(file)
        while not done.is_set():
            seen.add(clock.now())

    reader = threading.Thread(target=read_until_done)
    reader.start()
    for moment in moments:
        set_clock_file(file, moment)
    done.set()
    reader.join()
    assert seen <= {START, *moments}


def test_a_clock_follows_each_time_set_and_real_time_once_the_file_is_gone(tmp_path):
    file = tmp_path / "clock"
    clock = Clock(file)
    set_clock_file(file, START)
    assert clock.now() == START
    set_clock_file(file, START + timedelta(days=1))  # the same size: a new file all the same
    assert clock.now() == START + timedelta(days=1)
    file.unlink()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)
