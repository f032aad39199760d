"""The Kafka commands on the real broker: an unknown topic is one line, `watch --max N`
prints N records and stops, saying on stderr what it follows."""
import json
import subprocess
import sys
import uuid

from referral_hub.adapters.kafka import ensure_topics, make_producer, produce_and_wait


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "referral_hub.commands.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_an_unknown_topic_is_one_line(kafka):
    result = run("watch", "no-such-topic.v1", "--bootstrap-servers", kafka.bootstrap_servers)
    assert result.returncode == 69
    assert result.stderr == f"watch: no topic no-such-topic.v1 on {kafka.bootstrap_servers}\n"


def test_watch_prints_max_records_then_stops(kafka):
    topic = f"test-watch-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka, [topic])
    producer = make_producer(kafka)
    for n in range(5):
        produce_and_wait(producer, topic, f"key-{n}", b'{"raw": true}')
    result = run("watch", topic, "--max", "3", "--bootstrap-servers", kafka.bootstrap_servers)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and {line["schema"] for line in lines} == {"raw"}
    assert result.stderr == (f"watch: {topic} on {kafka.bootstrap_servers} from its start, "
                             "following until 3 record(s)\n")
