"""`referral-hub ingest`: wire the HTTP API, the raw-topic validator and the referral index."""
from __future__ import annotations

import uvicorn
from prometheus_client import start_http_server

from referral_hub.adapters.avro import codec_for
from referral_hub.config import HubConfig
from referral_hub.adapters.kafka import ensure_topics, make_producer
from referral_hub.adapters.logs import get_logger
from referral_hub.settings import HubSettings
from referral_hub.adapters.topics import CORE_TOPICS, raw_topics

from .app import create_app
from .bounded_head import HEAD_BYTES, BoundedHeadProtocol
from .encompass_store import EncompassNotifications
from .intake import Intake
from .raw_topic import RawTopicValidator
from .referral_index import RecordedEvents, ReferralIndex


def run(settings: HubSettings, config: HubConfig) -> None:
    ensure_topics(settings.kafka, [*CORE_TOPICS, *raw_topics(config.forces)])
    codec = codec_for(settings)
    intake = Intake(settings, config, codec, make_producer(settings.kafka))
    recorded = RecordedEvents(settings.kafka, codec)
    encompass = EncompassNotifications(intake, recorded) if settings.ack_secret else None
    app = create_app(intake, ReferralIndex(settings.kafka, codec), RawTopicValidator(intake),
                     recorded, encompass)
    start_http_server(settings.ingest_metrics_port, settings.ingest_metrics_host)
    log = get_logger()
    log.info("ingest_metrics_serving", host=settings.ingest_metrics_host, port=settings.ingest_metrics_port)
    log.info("ingest_starting", host=settings.ingest_host, port=settings.ingest_port,
             config_version=config.version)
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port,
                log_config=None, access_log=False,
                http=BoundedHeadProtocol, h11_max_incomplete_event_size=HEAD_BYTES)
