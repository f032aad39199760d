"""`referral-hub router`: the faust worker that applies the pathway rules."""
from referral_hub.avro import codec_for
from referral_hub.config import HubConfig
from referral_hub.kafka import ensure_topics
from referral_hub.settings import HubSettings
from referral_hub.streaming import run_worker
from referral_hub.lag import LagReporter
from referral_hub.topics import (CONTACTS, CORE_TOPICS, INCIDENTS, INCIDENTS_BY_PERPETRATOR,
                                 REFERRAL_CHECKS)

from .app import APP_ID, create_app


def run(settings: HubSettings, config: HubConfig) -> None:
    ensure_topics(settings.kafka, CORE_TOPICS)
    LagReporter(settings.kafka, APP_ID, [INCIDENTS, INCIDENTS_BY_PERPETRATOR, CONTACTS,
                                         REFERRAL_CHECKS]).start()
    run_worker(create_app(settings, config, codec_for(settings)), settings)
