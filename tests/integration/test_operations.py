"""Operations: the Prometheus configuration, the alert rules and the Grafana dashboard, checked
with Debian's Prometheus against the running hub.

prometheus and promtool come from `bash deploy/prometheus/ensure-tools.sh` (`make test` runs
it). Without them these tests fail, naming the command: they never skip.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from referral_hub.adapters import metrics
from referral_hub.settings import REPO_ROOT
from tests.factories import fresh_incident
from tests.integration.conftest import PROMETHEUS_PORT
from tests.integration.kafka_helpers import post_incident

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "referral-hub.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "referral-hub.yml"

WAIT = 30.0
METRIC = re.compile(r"referral_hub_[a-z_]+")
# What Grafana puts in for its variables, for evaluating the panels' queries directly.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h",
                     "$area": ".*", "$pathway": ".*"}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, (f"{name} is not on PATH: run `bash deploy/prometheus/ensure-tools.sh` "
                  "(installs Debian's prometheus package, which provides prometheus and promtool)")
    return path


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\S+)\s*$", ALERTS.read_text(), re.MULTILINE)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and variable queries."""
    board = dashboard()
    exprs = [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]
    exprs += [var["definition"] for var in board["templating"]["list"] if var["type"] == "query"]
    return exprs


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know in {expr!r}"
    return expr


def exported_type_names(hub) -> set[str]:
    names = set()
    for service, url in hub.metrics_urls().items():
        answer = httpx.get(f"{url}/metrics", timeout=10)
        assert answer.status_code == 200, f"{service} /metrics answered {answer.status_code}"
        names |= set(re.findall(r"^# TYPE (\S+) \S+$", answer.text, re.MULTILINE))
    return names


def is_exported(name: str, types: set[str]) -> bool:
    """A sample name is exported when it or its family (histogram, counter) has a # TYPE line."""
    if name in types:
        return True
    for suffix in ("_bucket", "_sum", "_count", "_created"):
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            if base in types or f"{base}_total" in types:
                return True
    return False


# --- configuration and rules, with promtool ------------------------------------------------

def test_prometheus_configuration_and_alert_rules_pass_promtool_checks(tmp_path):
    promtool = tool("promtool")
    for source in (CONFIG, ALERTS):  # check config also loads the rule files it names
        shutil.copy(source, tmp_path / source.name)
    config = run(promtool, "check", "config", str(tmp_path / CONFIG.name))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run(promtool, "check", "rules", str(ALERTS))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in rules.stdout + rules.stderr

    text = CONFIG.read_text()
    assert re.findall(r"job_name:\s*(\S+)", text) == [
        "referral-hub-ingest", "referral-hub-router", "referral-hub-notify"]
    assert re.findall(r'targets:\s*\["([^"]+)"\]', text) == [
        "127.0.0.1:8083", "127.0.0.1:8081", "127.0.0.1:8082"]


def test_every_alert_rule_has_unit_tests_that_fire_and_stay_quiet_and_they_pass():
    outcome = run(tool("promtool"), "test", "rules", ALERT_TESTS.name, cwd=PROMETHEUS_DIR)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    fires, quiet = set(), set()
    for case in re.split(r"^\s*- eval_time:", ALERT_TESTS.read_text(), flags=re.MULTILINE)[1:]:
        name = re.search(r"alertname:\s*(\S+)", case).group(1)
        (quiet if re.search(r"exp_alerts:\s*\[\]", case) else fires).add(name)
    names = set(alert_names())
    assert len(names) >= 6
    assert names - fires == set(), "rules with no case where they fire"
    assert names - quiet == set(), "rules with no case where they stay quiet"


def test_every_alert_names_its_severity_and_explains_itself():
    text = ALERTS.read_text()
    rules = re.split(r"^\s*- alert:", text, flags=re.MULTILINE)[1:]
    assert len(rules) == len(alert_names())
    for rule in rules:
        name = rule.split()[0]
        assert re.search(r"severity:\s*(critical|warning)\s*$", rule, re.MULTILINE), name
        assert "summary:" in rule and "description:" in rule, name
    for name in ("EncompassNotDeliveredBeforeSchool", "MaracOrIdvaReferralOverdue"):
        rule = rules[alert_names().index(name)]
        assert "{{ $labels.pathway }}" in rule or "ENCOMPASS" in rule, name
        assert "{{ $labels.area }}" in rule, name


# --- every metric the alerts and the dashboard use exists ----------------------------------

def test_every_metric_in_the_alerts_and_the_dashboard_is_exported_by_the_services(hub):
    types = exported_type_names(hub)
    used = {"alerts.yml": set(METRIC.findall(ALERTS.read_text())),
            "referral-hub.json": {name for expr in dashboard_queries()
                                  for name in METRIC.findall(expr)}}
    assert {"referral_hub_undelivered_due_soon_referrals", "referral_hub_overdue_referrals",
            "referral_hub_dead_letters_total",
            "referral_hub_consumer_lag_messages"} <= used["alerts.yml"]
    assert "referral_hub_time_to_contact_seconds_bucket" in used["referral-hub.json"]
    missing = {where: sorted(name for name in names if not is_exported(name, types))
               for where, names in used.items()}
    assert missing == {"alerts.yml": [], "referral-hub.json": []}, (
        f"not in any service's /metrics # TYPE lines: {missing}")


def test_dashboard_and_alert_selectors_use_only_labels_the_metrics_have():
    """A misspelt label matcher makes a panel silently empty and an alert never fire."""
    declared = {}
    for value in vars(metrics).values():
        names = getattr(value, "_labelnames", None)
        if names is not None and hasattr(value, "_name"):
            family = value._name
            for suffix in ("", "_total", "_bucket", "_sum", "_count", "_created"):
                declared[family + suffix] = set(names) | ({"le"} if suffix == "_bucket" else set())
    exprs = dashboard_queries() + [ALERTS.read_text()]
    wrong = []
    for expr in exprs:
        for name, matchers in re.findall(r"(referral_hub_[a-z_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers):
                if label not in declared.get(name, set()) | {"job", "instance"}:
                    wrong.append(f"{name}{{{label}}}")
    assert wrong == []


# --- the Grafana dashboard -----------------------------------------------------------------

def test_grafana_provisioning_points_the_dashboard_at_the_prometheus_datasource():
    datasource_uid = re.search(r"^\s*uid:\s*(\S+)", DATASOURCES.read_text(), re.MULTILINE).group(1)
    assert re.search(r"url:\s*http://127\.0\.0\.1:9090\s*$", DATASOURCES.read_text(), re.MULTILINE)
    providers = DASHBOARD_PROVIDERS.read_text()
    assert re.search(r"type:\s*file", providers) and re.search(r"path:\s*\S+", providers)

    board = dashboard()
    assert {var["name"] for var in board["templating"]["list"]} >= {"area", "pathway"}
    panels = dashboard_panels()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid, panel["title"]
    for var in board["templating"]["list"]:
        assert var["datasource"]["uid"] == datasource_uid, var["name"]
    exprs = " ".join(dashboard_queries())
    for wanted in ("referral_hub_referrals_total", "histogram_quantile(0.5",
                   "histogram_quantile(0.9", "referral_hub_time_to_notify_seconds_bucket",
                   'within_deadline="true"', "referral_hub_open_referrals",
                   "referral_hub_overdue_referrals", "referral_hub_undelivered_due_soon_referrals",
                   "referral_hub_dead_letters_total", "referral_hub_consumer_lag_messages",
                   'up{job=~"referral-hub-.*"}'):
        assert wanted in exprs, wanted


# --- Debian's Prometheus server scraping the running hub -----------------------------------

def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def config_for_test_hub(hub) -> str:
    """deploy/prometheus/prometheus.yml with the test ports and 1-second intervals."""
    urls = hub.metrics_urls()
    head, *jobs = re.split(r"(?=^  - job_name:)", CONFIG.read_text(), flags=re.MULTILINE)
    head = re.sub(r"(scrape_interval|evaluation_interval):\s*15s", r"\1: 1s", head)
    assert head.count(": 1s") == 2, "global scrape and evaluation intervals not found"
    rewritten = [head]
    for job in jobs:
        name = re.match(r"\s*- job_name:\s*(\S+)", job).group(1)
        service = name.removeprefix("referral-hub-")
        address = urls[service].removeprefix("http://")
        job, replaced = re.subn(r'targets:\s*\["[^"]+"\]', f'targets: ["{address}"]', job)
        assert replaced == 1, f"no single targets line in job {name}"
        rewritten.append(re.sub(r"scrape_interval:\s*15s", "scrape_interval: 1s", job))
    return "".join(rewritten)


@pytest.fixture(scope="module")
def prometheus(hub, tmp_path_factory):
    """Debian's Prometheus on 127.0.0.1:PROMETHEUS_PORT scraping the test hub every second."""
    binary = tool("prometheus")
    assert not port_in_use(PROMETHEUS_PORT), f"port {PROMETHEUS_PORT} is already in use"
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text(config_for_test_hub(hub))
    shutil.copy(ALERTS, work / ALERTS.name)
    log_path = work / "prometheus.log"

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-3000:]
    base = f"http://127.0.0.1:{PROMETHEUS_PORT}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}", "--storage.tsdb.retention.time=1h",
             "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert process.poll() is None, f"prometheus exited {process.returncode}:\n{log_tail()}"
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"prometheus not ready in {WAIT:.0f}s:\n{log_tail()}"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=5) as client:
            client.log_tail = log_tail
            yield client
    finally:  # the server is ours: stop it whatever happened
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def query(prometheus, promql: str) -> list[dict]:
    answer = prometheus.get("/api/v1/query", params={"query": promql})
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", f"{promql}: {body}"
    return body["data"]["result"]


def poll(what: str, check, prometheus, timeout: float = WAIT):
    """check() until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n"
                                 f"{prometheus.log_tail()}")
        time.sleep(0.25)
    return result


def test_prometheus_scrapes_all_three_services_and_sees_an_accepted_incident(prometheus, api):
    notification = fresh_incident()
    assert post_incident(api, notification).status_code == 202
    area = notification["local_authority"]

    def all_up():
        ups = {s["metric"]["job"]: s["value"][1] for s in query(prometheus, 'up{job=~"referral-hub-.*"}')}
        return ups if ups == {"referral-hub-ingest": "1", "referral-hub-router": "1",
                              "referral-hub-notify": "1"} else None
    poll("up == 1 for referral-hub-ingest, -router and -notify", all_up, prometheus)

    def accepted():
        samples = query(prometheus, 'referral_hub_incidents_accepted_total{job="referral-hub-ingest"}')
        return [s for s in samples if s["metric"].get("area") == area
                and s["metric"].get("source") == "http" and float(s["value"][1]) >= 1]
    poll(f"referral_hub_incidents_accepted_total with area={area}", accepted, prometheus)

    def decided():
        selector = f'referral_hub_referrals_total{{job="referral-hub-router", area="{area}"}}'
        samples = query(prometheus, selector)
        return {s["metric"]["pathway"] for s in samples} >= {"MARAC", "IDVA", "ENCOMPASS"}
    poll(f"the router's MARAC, IDVA and ENCOMPASS referrals for {area}", decided, prometheus)


def test_prometheus_loads_and_evaluates_every_alert_rule(prometheus):
    def evaluated():
        body = prometheus.get("/api/v1/rules", params={"type": "alert"}).json()
        rules = {rule["name"]: rule for group in body["data"]["groups"] for rule in group["rules"]}
        return rules if rules and all(r["health"] != "unknown" for r in rules.values()) else None
    rules = poll("every alert rule evaluated once", evaluated, prometheus)
    assert sorted(rules) == sorted(alert_names())
    assert {name: (rule["health"], rule.get("lastError", "")) for name, rule in rules.items()} == {
        name: ("ok", "") for name in alert_names()}
    assert rules["ServiceDown"]["state"] == "inactive"  # all three are up


def test_every_dashboard_query_runs_on_prometheus(prometheus):
    for expr in dashboard_queries():
        if expr.startswith("label_values("):  # a Grafana function: ask for the label's values
            metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", expr).groups()
            answer = prometheus.get(f"/api/v1/label/{label}/values", params={"match[]": metric})
            assert answer.status_code == 200 and answer.json()["status"] == "success", expr
            continue
        query(prometheus, grafana_to_promql(expr))


def values(samples: list[dict], label: str) -> dict[str, float]:
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in samples}


def test_the_dashboards_panels_show_the_hubs_values(prometheus, api):
    """Not only that each query runs: after an incident, the main panels show what happened."""
    notification = fresh_incident()
    assert post_incident(api, notification).status_code == 202
    area = notification["local_authority"]
    shown = {  # a panel's query (as in the dashboard) -> what it must show
        'up{job=~"referral-hub-.*"}':
            lambda s: values(s, "job") == {"referral-hub-ingest": 1, "referral-hub-router": 1,
                                           "referral-hub-notify": 1},
        'sum by (area) (rate(referral_hub_incidents_accepted_total{area=~"$area"}[1h])) * 3600':
            lambda s: values(s, "area").get(area, 0) > 0,
        'sum by (pathway, area) (rate(referral_hub_referrals_total{area=~"$area", pathway=~"$pathway"}[1h])) * 3600':
            lambda s: {"MARAC", "IDVA", "ENCOMPASS"} <= {x["metric"]["pathway"] for x in s
                                                        if x["metric"]["area"] == area and float(x["value"][1]) > 0},
        'sum by (pathway) (referral_hub_open_referrals{area=~"$area", pathway=~"$pathway"})':
            lambda s: values(s, "pathway").get("MARAC", 0) >= 1,
        "max by (group, topic) (referral_hub_consumer_lag_messages)":
            lambda s: {"referral-hub-ingest-raw", "referral-hub-router", "referral-hub-notify"}
            <= {x["metric"]["group"] for x in s} and all(float(x["value"][1]) >= 0 for x in s),
    }
    assert set(shown) <= set(dashboard_queries()), "a panel's query changed: update this test"
    for expr, check in shown.items():
        poll(f"the panel {expr!r} to show the incident",
             lambda e=expr, c=check: c(query(prometheus, grafana_to_promql(e))), prometheus)
