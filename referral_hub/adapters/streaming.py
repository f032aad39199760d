"""What the faust services (router, notify) share: app settings, raw topics, web pages."""
from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
import rocksdict
from confluent_kafka import KafkaError, KafkaException, Producer
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb
from faust.streams import _current_event
from faust.web import drivers as web_drivers
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import CrashingSupervisor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from referral_hub.adapters.every_event import EveryEvent
from referral_hub.adapters.kafka import ensure_topics, make_producer
from referral_hub.settings import HubSettings, KafkaSettings


class OwnPagesOnly(AiohttpWeb):
    """faust's web server without faust's own pages, only those faust_app adds. faust's
    /table/<name>/<key>/ hands a table's records (a victim's history, a recipient's
    record) to anyone who can reach the port; /router, /graph, / and /assignment describe
    the workers. The hub serves no table over HTTP, so none of them is needed."""
    default_blueprints = production_blueprints = debug_blueprints = optional_blueprints = ()


WEB_DRIVER = "hub-own-pages"
web_drivers.DRIVERS.aliases[WEB_DRIVER] = f"{__name__}:OwnPagesOnly"


class IdempotentProducer(faust_aiokafka.Producer):
    """acks=all with idempotence, as our confluent-kafka producers: a retried send after a
    broker's loss is not written twice. faust turns idempotence on only for exactly_once."""

    def _settings_extra(self):
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


# How long the broker may hold a fetch that finds nothing new. aiokafka keeps one fetch in
# flight per broker, and a partition whose records were still buffered when it went out is
# not in it: that partition's next records wait until the broker answers, up to this long,
# at each stage. faust asks for 1.5 s. Idle, each fetch comes back empty after this long:
# at 50 ms that is 20 fetches a second, about 2% of a core (at 20 ms, 5%).
FETCH_MAX_WAIT_MS = 50


class PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # faust hard-codes 1500; read at start()
        return consumer


class PromptConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self):
        return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = PromptConsumer


# RocksDB's memory, one budget for all of a service's databases. faust opens one database per
# table and partition (a router: 6 tables x 6 partitions in production), each with a block
# cache of 2 GiB and memtables of 3 x 64 MiB by default: a replay's every read block and
# write stayed in memory, so the router grew with what it had seen. Here all share one
# cache, and their memtables are charged to it (RocksDB's write buffer manager): a service's
# RocksDB memory is bounded by ROCKSDB_MEMORY, however many databases it opens.
ROCKSDB_MEMORY = 32 * 1024**2
_SHARED_CACHE = rocksdict.Cache(ROCKSDB_MEMORY)
_SHARED_WRITE_BUFFERS = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
    ROCKSDB_MEMORY // 2, False, _SHARED_CACHE)


class SharedMemoryOptions(faust_rocksdb.RocksDBOptions):
    write_buffer_size = 4 * 1024**2  # a memtable is flushed at this size (faust's: 64 MiB)

    def as_options(self) -> rocksdict.Options:
        options = super().as_options()
        table = rocksdict.BlockBasedOptions()  # faust's, with the shared cache instead of its own
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(_SHARED_CACHE)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(_SHARED_WRITE_BUFFERS)
        return options


class SharedMemoryStore(faust_rocksdb.Store):
    """faust's RocksDB store (through rocksdict) within the service's one memory budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rocksdb_options = SharedMemoryOptions(**self.options, use_rocksdict=True)


STORES.aliases["hub-rocksdb"] = f"{__name__}:SharedMemoryStore"
STORE_URLS = {"rocksdb://": "hub-rocksdb://", "memory://": "memory://"}


class HubTable(faust.Table):
    """faust checks a table's changelog against its source topic on the first event, and
    takes a topic its consumer's metadata does not show yet for one of 0 partitions: a
    mismatch, and the worker crashes. Seen on the three-node cluster, where a topic created
    a moment before is not yet known to every broker. Unknown is not checked (and checked
    again next time); the metadata refresh below soon makes it known."""

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        consumer = self.app.consumer
        if consumer.topic_partitions(source_topic) and consumer.topic_partitions(self.changelog_topic_name):
            super()._verify_source_topic_partitions(source_topic)


class HubApp(faust.App):
    def _new_transport(self):
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self):
        return IdempotentTransport(self.conf.broker_producer, self)


def faust_app(app_id: str, settings: HubSettings, host: str, port: int) -> faust.App:
    kafka = settings.kafka
    app = HubApp(
        app_id,
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=_credentials(kafka),
        # at_least_once with idempotent consumers; faust's exactly_once has long-open bugs.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # A batch's table writes (their changelogs) go through faust's producer after its
        # records: in requests of up to 512 KiB per partition, not 16 KiB.
        producer_max_batch_size=512 * 1024,
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        # A worker that died is replaced after 10 s rather than faust's default 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        # A topic missing from the consumer's metadata (just created, see HubTable) is
        # looked for again after 10 s, not aiokafka's 5 minutes; its partitions then join.
        consumer_metadata_max_age_ms=10_000,
        Table=HubTable,
        store=STORE_URLS[settings.state_store],
        datadir=str(settings.state_dir / app_id),
        topic_partitions=kafka.topic_partitions,
        topic_replication_factor=kafka.topic_replication_factor,
        topic_allow_declare=True,
        web_bind=host, web_host=host, web_port=port,
        web_enabled=True, web=f"{WEB_DRIVER}://",
    )

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def ready(web, request):
        waiting = not_ready_because(app)
        if waiting:
            return web.json({"status": "not ready", "waiting_for": waiting}, status=503)
        return web.json({"status": "ready"})

    @app.page("/metrics")
    async def metrics(web, request):
        # aiohttp refuses a charset inside content_type, so the header is set whole.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app


def not_ready_because(app: faust.App) -> list[str]:
    """What stands between this worker and doing its share: it has joined its group and has
    partitions, its tables are recovered and its agents run. Empty: ready."""
    waiting = []
    if app.rebalancing_count == 0 or app.rebalancing:
        waiting.append("partition assignment")
    elif app.unassigned:
        waiting.append("partitions (more instances than partitions?)")
    if app.in_recovery or not app.tables.recovery.completed.is_set():
        waiting.append("table recovery")
    waiting += [f"agent {name}" for name, running in app.agents.items()
                if not running.started or running.should_stop or running.crashed]
    return waiting


def agent(app: faust.App, topic: faust.TopicT, batches_of: int | None = None):
    """An agent over the topic's events, none skipped (referral_hub/adapters/every_event.py): the
    decorated function gets those events, not faust's stream; with `batches_of`, lists of
    the events faust has ready, at most that many (see Batch). Its crash stops the worker:
    a process that exits is restarted by its supervisor and fails its health check; an
    agent that died quietly routes nothing."""
    def decorate(handle: Callable[[AsyncIterator[Any]], Awaitable[None]]):
        guard = EveryEvent(app)

        async def consume(stream: faust.StreamT) -> None:
            await handle(guard.batches(stream, batches_of) if batches_of else guard.events(stream))
        return app.agent(topic, name=f"{handle.__module__}.{handle.__qualname__}",
                         supervisor_strategy=CrashingSupervisor)(consume)
    return decorate


# A faust service's records from its batches wait through a broker's loss (a partition's
# leader moving takes seconds) rather than crash the agent; nothing waits on them but the
# batch, whose events are not acked until they are in.
STREAM_DELIVERY_TIMEOUT_SECONDS = 300


def batch_producer(settings: HubSettings) -> Producer:
    """The producer of a service's Batches: librdkafka's (confluent-kafka). faust's own
    (aiokafka, pure Python) spent a third of the router's time encoding requests and
    handing records over one by one; librdkafka does that in C, on its own threads."""
    return make_producer(settings.kafka, STREAM_DELIVERY_TIMEOUT_SECONDS)


class Batch:
    """What an agent does for a batch of events: records sent without waiting one by one,
    and the table writes that must only follow them. `done()` waits until the broker has
    every record, then writes the tables; a record the broker refused raises before any
    write, so the events are processed again after the restart (none is acked).

    The records go through `producer` (batch_producer), the table writes through faust's
    producer to their changelogs: those follow the records, as the broker has the records
    before they are made."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._confirmations = _Confirmations()
        self._writes: list[tuple[faust.EventT, faust.TableT, str, Any]] = []

    def send(self, topic: faust.TopicT, key: str, value: bytes) -> None:
        self._producer.produce(topic.get_topic_name(), key=key.encode(), value=value,
                               on_delivery=self._confirmations.expect())

    def write_after(self, event: faust.EventT, table: faust.TableT, key: str, value: Any) -> None:
        self._writes.append((event, table, key, value))

    async def done(self) -> None:
        await self._confirmations.all_in()
        for event, table, key, value in self._writes:
            with _processing(event):
                table[key] = value


class _Confirmations:
    """The broker's confirmations of a batch's records, awaited once for them all. They
    arrive on the producer's delivery-report thread (kafka.make_producer), so the count is
    locked and the waiting event loop is woken once, by the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outstanding = 0
        self._refusal: KafkaError | None = None
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future] | None = None

    def expect(self) -> Callable[[KafkaError | None, Any], None]:
        with self._lock:
            self._outstanding += 1
        return self._confirmed

    def _confirmed(self, error: KafkaError | None, _message) -> None:
        with self._lock:
            self._outstanding -= 1
            self._refusal = self._refusal or error
            waiter = self._waiter if self._outstanding == 0 else None
        if waiter:
            loop, future = waiter
            loop.call_soon_threadsafe(_settle, future)

    async def all_in(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._outstanding:
                self._waiter = (loop, loop.create_future())
        if self._waiter:
            await self._waiter[1]
        if self._refusal is not None:
            raise KafkaException(self._refusal)


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def each_event(events: list[faust.EventT]) -> Iterator[faust.EventT]:
    """A batch's events in turn, each faust's current event while the agent handles it:
    a table reads and writes the partition of the event being processed."""
    for event in events:
        with _processing(event):
            yield event


@contextmanager
def _processing(event: faust.EventT) -> Iterator[None]:
    """A table puts a key in the partition of the event being processed (faust's
    current_event), so a write made after the batch names its own event."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    """Our topics carry Avro bytes; the services decode them with AvroCodec. Several names:
    one agent reads them all, in order within each partition."""
    return app.topic(*names, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


def _credentials(kafka: KafkaSettings):
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.sasl_mechanism:
        if kafka.sasl_mechanism == "PLAIN":
            return faust.SASLCredentials(username=kafka.sasl_username,
                                         password=kafka.sasl_password, ssl_context=context)
        return faust.SASLCredentials(username=kafka.sasl_username, password=kafka.sasl_password,
                                     mechanism=kafka.sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context) if context else None


async def send_and_wait(topic: faust.TopicT, key: str, value: bytes) -> None:
    """Return once the broker has the record, so state saved after it never runs ahead."""
    pending = await topic.send(key=key.encode(), value=value)
    await pending


def run_worker(app: faust.App, settings: HubSettings) -> None:
    """Run a faust worker in this process with our logging left in place."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    # Created here, not by faust at start: faust checks a changelog's partitions before
    # its own metadata has caught up with a topic it has just created, and crashes.
    ensure_topics(settings.kafka, [table.changelog_topic.get_topic_name()
                                   for table in app.tables.values()], compacted=True)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), override_logging=False,
                          redirect_stdouts=False, quiet=True)
    worker.spinner = None  # it writes terminal escapes into the JSON log stream
    worker.execute_from_commandline()
