"""The guard against faust skipping events, on the real broker: a worker whose stream loses
offsets 3 to 6 still processes every offset, in order, and commits to the end."""
import subprocess
import sys
import uuid

from referral_hub.adapters.kafka import ensure_topics, make_producer, produce_and_wait
from referral_hub.settings import REPO_ROOT

COUNT = 10


def test_events_the_stream_dropped_are_read_again_in_order(kafka):
    name = f"test-every-event-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.model_copy(update={"topic_partitions": 1}), [name])
    producer = make_producer(kafka)
    for n in range(COUNT):
        produce_and_wait(producer, name, f"key-{n}", b"value")
    worker = subprocess.run([sys.executable, "-m", "tests.integration.dropping_worker",
                             kafka.bootstrap_servers, name, f"{name}-group", str(COUNT)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    *processed, outcome = worker.stdout.splitlines()
    assert [int(offset) for offset in processed] == list(range(COUNT))  # 3-6 before 7, once each
    assert outcome == "committed"
    assert '"event": "skipped_events_read_again"' in worker.stderr
