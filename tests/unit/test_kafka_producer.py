"""A producer's delivery-report thread ends with the producer: no thread keeps polling (and
logging about) a broker that its owner, long finished, was connected to."""
import gc
import threading
import time

from referral_hub.adapters.kafka import make_producer
from referral_hub.settings import KafkaSettings


def delivery_threads() -> int:
    return sum(thread.name == "delivery-reports" for thread in threading.enumerate())


def test_a_dropped_producers_delivery_report_thread_ends():
    before = delivery_threads()
    producer = make_producer(KafkaSettings(bootstrap_servers="127.0.0.1:9"))  # nothing listens
    assert delivery_threads() == before + 1
    del producer
    gc.collect()
    deadline = time.monotonic() + 5
    while delivery_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delivery_threads() == before
