"""The deployment manifests: Kubernetes resources valid against the API's own schemas (by
kubernetes-validate, offline), and Strimzi's topics the same as the topics the code writes.

kubernetes-validate has no schemas for custom resources, so the Strimzi resources are
checked here against the code and the Kubernetes settings instead.
"""
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from referral_hub.adapters.avro import AvroCodec
from referral_hub.config import load_config
from referral_hub.settings import REPO_ROOT, HubSettings, KafkaSettings
from referral_hub.adapters.topics import CORE_TOPICS, raw_topics
from referral_hub.services.notify.app import create_app as notify_app
from referral_hub.services.router.app import create_app as router_app

K8S = REPO_ROOT / "deploy" / "k8s"
STRIMZI = REPO_ROOT / "deploy" / "strimzi"
KUBERNETES_VERSION = "1.30"  # the oldest release still supported by its cloud providers
SERVICES = ("ingest", "router", "notify")


def resources(directory: Path) -> list[dict]:
    return [document for path in sorted(directory.glob("*.yaml")) if path.name != "kustomization.yaml"
            for document in yaml.safe_load_all(path.read_text()) if document]


def of_kind(kind: str, directory: Path = K8S) -> list[dict]:
    return [r for r in resources(directory) if r["kind"] == kind]


def deployment(service: str) -> dict:
    return next(d for d in of_kind("Deployment") if d["metadata"]["name"] == f"referral-hub-{service}")


def container(service: str) -> dict:
    return deployment(service)["spec"]["template"]["spec"]["containers"][0]


def settings_map() -> dict[str, str]:
    return next(c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "referral-hub-settings")["data"]


@pytest.mark.parametrize("resource", resources(K8S), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_kubernetes_resources_are_valid(resource):
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_twice_with_probes_resources_and_secrets(service):
    spec = container(service)
    assert deployment(service)["spec"]["replicas"] >= 2
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"cpu", "memory"} <= spec["resources"]["requests"].keys()
    assert "memory" in spec["resources"]["limits"]
    assert {"secretRef": {"name": "referral-hub-secrets"}} in spec["envFrom"]
    assert spec["args"] == [service]


@pytest.mark.parametrize("service", SERVICES)
def test_every_configuration_file_is_mounted_in_its_place(service):
    """An area added to config/ without its line here would be missing in production."""
    volume = next(v for v in deployment(service)["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "config")
    shipped = {p.relative_to(REPO_ROOT / "config").as_posix()
               for p in (REPO_ROOT / "config").rglob("*") if p.is_file()}
    assert {item["path"] for item in volume["configMap"]["items"]} == shipped
    assert all(item["key"] == Path(item["path"]).name for item in volume["configMap"]["items"])


def test_settings_are_ones_the_services_accept():
    settings = settings_map()
    HubSettings(**{k.removeprefix("RH_").lower(): v for k, v in settings.items()
                   if k.startswith("RH_") and not k.startswith(("RH_KAFKA_", "RH_SMTP_"))})
    KafkaSettings(**{k.removeprefix("RH_KAFKA_").lower(): v for k, v in settings.items()
                     if k.startswith("RH_KAFKA_")})


def test_only_prometheus_reaches_metrics():
    """Ingest's API port is open; its metrics port and the workers' ports (healthz, ready,
    metrics) only to Prometheus."""
    metrics_port = int(settings_map()["RH_INGEST_METRICS_PORT"])
    assert {"name": "metrics", "containerPort": metrics_port} in container("ingest")["ports"]
    api_port = next(p["containerPort"] for p in container("ingest")["ports"] if p["name"] == "http")
    worker_ports = {container(s)["ports"][0]["containerPort"] for s in ("router", "notify")}
    policies = of_kind("NetworkPolicy")
    open_ports, prometheus_only = set(), set()
    for policy in policies:
        for rule in policy["spec"]["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            if "from" not in rule:
                open_ports |= ports
            elif all(peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
                     for peer in rule["from"]):
                prometheus_only |= ports
    assert open_ports == {api_port}
    assert prometheus_only == {metrics_port} | worker_ports


def topics_the_code_writes() -> dict[str, bool]:
    """Topic name -> compacted, from the code and the shipped configuration."""
    settings = HubSettings()
    config, codec = load_config(settings.config_dir), AvroCodec(settings.schema_dir)
    changelogs = {table.changelog_topic.get_topic_name(): True
                  for create in (router_app, notify_app)
                  for table in create(settings, config, codec).tables.values()}
    return {name: False for name in [*CORE_TOPICS, *raw_topics(config.forces),
                                     *config.recipient_topics()]} | changelogs


def test_strimzi_declares_every_topic_the_code_writes_and_no_other():
    declared = {t["spec"]["topicName"]: t["spec"]["config"].get("cleanup.policy") == "compact"
                for t in of_kind("KafkaTopic", STRIMZI)}
    expected = topics_the_code_writes()
    assert sorted(set(expected) - set(declared)) == [], "topics missing from deploy/strimzi/topics.yaml"
    assert sorted(set(declared) - set(expected)) == [], "topics no code writes"
    assert declared == expected, "compaction differs"


def test_strimzi_topics_have_the_settings_the_services_create_them_with():
    kafka = KafkaSettings(**{k.removeprefix("RH_KAFKA_").lower(): v for k, v in settings_map().items()
                             if k.startswith("RH_KAFKA_")})
    assert (kafka.topic_replication_factor, kafka.min_insync_replicas) == (3, 2)
    for topic in of_kind("KafkaTopic", STRIMZI):
        spec = topic["spec"]
        assert spec["partitions"] == kafka.topic_partitions, spec["topicName"]
        assert spec["replicas"] == kafka.topic_replication_factor, spec["topicName"]
        assert int(spec["config"]["min.insync.replicas"]) == kafka.min_insync_replicas, spec["topicName"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "referral-hub"


def test_strimzi_cluster_is_kraft_with_enough_brokers_for_the_replicas():
    kafka = of_kind("Kafka", STRIMZI)[0]
    assert kafka["metadata"]["annotations"] == {"strimzi.io/node-pools": "enabled",
                                                "strimzi.io/kraft": "enabled"}
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    pools = of_kind("KafkaNodePool", STRIMZI)
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers >= 3 and controllers % 2 == 1
    assert {p["metadata"]["labels"]["strimzi.io/cluster"] for p in pools} == {kafka["metadata"]["name"]}
