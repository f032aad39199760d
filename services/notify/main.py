"""`referral-hub notify`: the faust worker that delivers referrals to recipients."""
from referral_hub.adapters.avro import codec_for
from referral_hub.config import HubConfig
from referral_hub.adapters.kafka import ensure_topics
from referral_hub.settings import HubSettings
from referral_hub.adapters.streaming import run_worker
from referral_hub.adapters.lag import LagReporter
from referral_hub.adapters.topics import CORE_TOPICS, DELIVERIES

from .app import APP_ID, create_app


def run(settings: HubSettings, config: HubConfig) -> None:
    ensure_topics(settings.kafka, [*CORE_TOPICS, *config.recipient_topics()])
    LagReporter(settings.kafka, APP_ID, [DELIVERIES]).start()
    run_worker(create_app(settings, config, codec_for(settings)), settings)
