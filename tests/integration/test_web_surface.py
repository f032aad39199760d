"""What each running service answers over HTTP beyond its API: /healthz and /metrics only.

faust's own pages would hand out its tables (a victim's incident history, a recipient's
record) to anyone who can reach the port, and ingest's metrics are on a port of their own
so the API can be exposed without them.
"""
import re

import httpx
import pytest
from faust.web import base as faust_web
from mode.utils.imports import symbol_by_name

# Every page faust can serve, from its own list of blueprints, so a page a later faust adds
# is checked too. Placeholders are filled with the hub's real table names and a key.
FAUST_BLUEPRINTS = [*faust_web.DEFAULT_BLUEPRINTS, *faust_web.PRODUCTION_BLUEPRINTS,
                    *faust_web.DEBUG_BLUEPRINTS, *faust_web.OPTIONAL_BLUEPRINTS]
TABLES = {"router": ("victim-history", "perpetrator-history", "referral-status", "closed-referrals"),
          "notify": ("webhook-waiting", "delivered-referrals")}


def faust_pages(tables: tuple[str, ...]) -> set[str]:
    pages = set()
    for prefix, blueprint in FAUST_BLUEPRINTS:
        for route in symbol_by_name(blueprint).routes:
            for table in tables:
                page = (prefix + route.uri).replace("{name}", table).replace("{key}", "merseyside:V1")
                pages |= {page, page.rstrip("/") or "/"}
    return pages


@pytest.mark.parametrize("service", ["router", "notify"])
def test_no_faust_page_is_served_only_health_and_metrics(hub, service):
    url = hub.urls()[service]
    pages = faust_pages(TABLES[service])
    assert {"/", "/router/", "/table/", f"/table/{TABLES[service][0]}/merseyside:V1/", "/graph/",
            "/assignment/", "/performance/"} <= pages
    served = {page: httpx.get(url + page, timeout=5).status_code for page in sorted(pages)}
    assert {page: status for page, status in served.items() if status != 404} == {}
    assert httpx.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert "referral_hub_" in httpx.get(url + "/metrics", timeout=5).text


def test_ingest_metrics_are_on_their_own_port_not_the_api_port(hub, api):
    assert api.get("/metrics").status_code == 404
    assert api.get("/healthz").json() == {"status": "ok"}
    metrics = httpx.get(hub.metrics_urls()["ingest"] + "/metrics", timeout=5)
    assert metrics.status_code == 200
    assert re.search(r"^# TYPE referral_hub_incidents_accepted_total counter$", metrics.text, re.MULTILINE)
