"""The API's documentation: every answer the running hub gives is documented, and /docs
renders in a browser with every request staying on 127.0.0.1 (no CDN)."""
import json
import re
import socket
from urllib.parse import urlsplit

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from referral_hub.adapters.topics import REFERRALS
from referral_hub.commands.demo import DEMO_API_KEYS
from referral_hub.services.ingest.bounded_head import HEAD_BYTES
from referral_hub.settings import REPO_ROOT
from tests.factories import fresh_incident
from tests.integration.kafka_helpers import post_incident, report_contact, wait_until

INCIDENTS, EVENTS = "/v1/incidents", "/v1/referrals/{referral_id}/events"


def status_with_large_headers(hub, method: str, path: str) -> int:
    parts = urlsplit(hub.urls()["ingest"])
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: hub\r\nX-Padding: ".encode()
                     + b"a" * (HEAD_BYTES + 1) + b"\r\n\r\n")
        return int(sock.recv(4096).split(b" ", 2)[1])


def answers_of_each_operation(api, hub, topic) -> dict[tuple[str, str], set[int]]:
    key = {"Authorization": f"Bearer {DEMO_API_KEYS['merseyside']}"}
    notification = fresh_incident()
    incidents = {
        post_incident(api, notification).status_code,
        api.post(INCIDENTS, content=json.dumps(fresh_incident())).status_code,
        api.post(INCIDENTS, content=b"{" + b" " * (300 * 1024) + b"}", headers=key).status_code,
        api.post(INCIDENTS, content=json.dumps(fresh_incident(risk={})), headers=key).status_code,
        api.post(INCIDENTS, content=json.dumps(fresh_incident()).encode("utf-16"), headers=key).status_code,
        status_with_large_headers(hub, "POST", INCIDENTS),
    }
    referrals = topic(REFERRALS, "referral")
    referrals.wait_for(lambda _: len(referrals.values(incident_id=notification["incident_id"])) == 4,
                       "the incident's referrals")
    marac = next(r for r in referrals.values(incident_id=notification["incident_id"]) if r["pathway"] == "MARAC")
    at = "2026-11-21T10:00:00Z"
    wait_until(lambda: report_contact(api, marac, "acknowledged", at).status_code != 404,
               "ingest to know the referral")
    path = f"/v1/referrals/{marac['referral_id']}/events"
    events = {
        report_contact(api, marac, "contact_attempted", at).status_code,
        report_contact(api, marac, "contact_attempted", at).status_code,
        report_contact(api, marac, "declined", at, token="not-a-token").status_code,
        report_contact(api, marac, "declined", at, token="demo-token-st-helens-idva").status_code,
        report_contact(api, dict(marac, referral_id="ref-unknown"), "declined", at).status_code,
        report_contact(api, marac, "went_fishing", at).status_code,
        api.post(path, content='{"type": "declined", "at": "é"}'.encode("latin-1"),
                 headers={"Authorization": "Bearer demo-token-st-helens-marac",
                          "Content-Type": "application/json"}).status_code,
        status_with_large_headers(hub, "POST", path),
    }
    health = {api.get("/healthz").status_code, status_with_large_headers(hub, "GET", "/healthz")}
    return {(INCIDENTS, "post"): incidents, (EVENTS, "post"): events, ("/healthz", "get"): health}


def test_every_answer_of_the_running_api_is_documented(api, hub, topic):
    document = api.get("/openapi.json").json()
    answered = answers_of_each_operation(api, hub, topic)
    assert answered[(INCIDENTS, "post")] == {202, 401, 413, 422, 431}
    assert answered[(EVENTS, "post")] == {200, 202, 400, 401, 403, 404, 422, 431}
    for (path, method), statuses in answered.items():
        documented = {int(code) for code in document["paths"][path][method]["responses"]}
        assert statuses <= documented, (path, method, statuses - documented)
        assert 503 in documented, (path, method)  # the broker away; test_broker_down.py


def test_the_document_tags_and_describes_every_operation_and_shows_the_sample(api):
    document = api.get("/openapi.json").json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert all(op.get("tags") and op.get("summary") and op.get("description") for op in operations)
    for op in operations:
        assert all(answer.get("description") for answer in op["responses"].values())
    example = document["paths"][INCIDENTS]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert example == json.loads((REPO_ROOT / "samples" / "incident.json").read_text())


def test_the_document_cites_no_file_the_repository_lacks(api):
    text = api.get("/openapi.json").text
    cited = set(re.findall(r"[\w./-]+/[\w.-]+\.(?:md|py|json|toml|avsc)\b", text))
    assert {path for path in cited if not (REPO_ROOT / path).exists()} == set()


def test_docs_render_the_operations_offline(browser, hub):
    base = hub.urls()["ingest"]
    browser.get(base + "/docs")
    WebDriverWait(browser, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")) >= 3)
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {INCIDENTS, EVENTS, "/healthz"} <= paths
    urls = browser.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))")
    assert any(url.endswith("/openapi.json") for url in urls)
    assert {urlsplit(url).hostname for url in urls if not url.startswith("data:")} == {"127.0.0.1"}
