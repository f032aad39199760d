"""Process settings: where Kafka is, how to reach it, where the configuration lives.

Read from the environment (prefix ``RH_``) by pydantic-settings, so a production
cluster with SASL/TLS is a change of environment, never of code.
"""
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # a checkout's root (in an installed wheel: site-packages)


def _shipped(installed: str, checkout: Path) -> Path:
    """Data a wheel carries inside the package (pyproject.toml's package-dir); a checkout
    keeps it in the repository's own folders."""
    inside = PACKAGE_DIR / installed
    return inside if inside.is_dir() else checkout


EXAMPLE_CONFIG_DIR = _shipped("example_config", REPO_ROOT / "config")
SCHEMA_DIR = _shipped("schemas", REPO_ROOT / "schemas" / "avro")
SAMPLES_DIR = _shipped("samples", REPO_ROOT / "samples")  # the API's documented example
# State is written: in a checkout under its .run/, installed under the working directory
# (never into site-packages).
STATE_DIR = REPO_ROOT / ".run" / "state" if (REPO_ROOT / "pyproject.toml").is_file() \
    else Path(".run") / "state"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RH_KAFKA_", frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    ssl_cafile: Path | None = None
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Replicas that must have a write before the broker acknowledges it (acks=all). None:
    # the broker's default. With replication 3, 2 keeps writing through one broker's loss
    # and never acknowledges a record only one broker holds.
    min_insync_replicas: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _replicas_can_be_in_sync(self):
        if self.min_insync_replicas and self.min_insync_replicas > self.topic_replication_factor:
            raise ValueError("min_insync_replicas cannot exceed topic_replication_factor: "
                             "no write would ever be acknowledged")
        return self

    def topic_config(self, compacted: bool = False) -> dict[str, str]:
        """The per-topic settings the hub creates its topics with."""
        config = {"cleanup.policy": "compact"} if compacted else {}
        if self.min_insync_replicas:
            config["min.insync.replicas"] = str(self.min_insync_replicas)
        return config

    def confluent(self) -> dict[str, str]:
        """Connection settings in librdkafka's vocabulary (confluent-kafka)."""
        conf = {"bootstrap.servers": self.bootstrap_servers,
                "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf |= {"sasl.mechanism": self.sasl_mechanism,
                     "sasl.username": self.sasl_username or "",
                     "sasl.password": self.sasl_password or ""}
        if self.ssl_cafile:
            conf["ssl.ca.location"] = str(self.ssl_cafile)
        return conf


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RH_", frozen=True)

    config_dir: Path = EXAMPLE_CONFIG_DIR
    schema_dir: Path = SCHEMA_DIR
    # A Confluent-compatible schema registry (its base URL): every topic then uses the
    # Confluent wire format. Unset: Avro single-object encoding (referral_hub/adapters/avro.py).
    # Every service and reader of one hub must agree.
    schema_registry_url: str | None = None
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    # /metrics of ingest has an address of its own, so the API can be public without it
    # (and a NetworkPolicy can keep this port for Prometheus).
    ingest_metrics_host: str = "127.0.0.1"
    ingest_metrics_port: int = 8083
    router_host: str = "127.0.0.1"
    router_port: int = 8081
    notify_host: str = "127.0.0.1"
    notify_port: int = 8082
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Router and notify state: RocksDB in production; memory (rebuilt from the changelogs
    # at every start) for the local stack and the tests.
    state_store: Literal["rocksdb://", "memory://"] = "rocksdb://"
    state_dir: Path = STATE_DIR
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Signs the Encompass acknowledgement links (at least 16 characters); without it the
    # acknowledgement page is off. Links point at the public address of the ingest API.
    ack_secret: SecretStr | None = Field(default=None, repr=False)
    public_base_url: str = "http://127.0.0.1:8080"
    # Tests set a clock file; production reads the real clock (see referral_hub/adapters/clock.py).
    clock_file: Path | None = None
    overdue_check_seconds: float = Field(default=15.0, gt=0)
    # How often the router looks for people its rules will never look back to (forgetting.py).
    history_check_seconds: float = Field(default=3600.0, gt=0)
    # How often notify looks for webhook deliveries whose retry time has come.
    webhook_check_seconds: float = Field(default=5.0, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
