"""`referral-hub router`: the faust worker that applies the pathway rules."""
from referral_hub.adapters.avro import codec_for
from referral_hub.config import HubConfig
from referral_hub.adapters.kafka import ensure_topics
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import run_worker
from referral_hub.adapters.lag import LagReporter
from referral_hub.adapters.topics import (CONTACTS, CORE_TOPICS, INCIDENTS, INCIDENTS_BY_INCIDENT,
                                          INCIDENTS_BY_PAIR, INCIDENTS_BY_PERPETRATOR, INCIDENTS_DEPARTED,
                                          REFERRAL_CHECKS)

from .app import APP_ID, create_app


def run(settings: HubSettings, config: HubConfig) -> None:
    ensure_topics(settings.kafka, CORE_TOPICS)
    LagReporter(settings.kafka, APP_ID, [INCIDENTS, INCIDENTS_DEPARTED, INCIDENTS_BY_PAIR,
                                         INCIDENTS_BY_PERPETRATOR, INCIDENTS_BY_INCIDENT, CONTACTS,
                                         REFERRAL_CHECKS]).start()
    run_worker(create_app(settings, config, codec_for(settings)), settings)
