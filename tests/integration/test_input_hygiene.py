"""JSON that two parsers could read differently is refused whole, kept and counted
(shared/spec/incident-notification.md, "What the hub must do with a bad notification")."""
import json
import re

import httpx

from referral_hub.adapters.topics import INCIDENTS, INCIDENTS_DLQ
from referral_hub.commands.demo import DEMO_API_KEYS
from tests.factories import fresh_incident

HTTP_REFUSED = re.compile(r'^referral_hub_incidents_refused_total\{reason="invalid",source="http"\} (\S+)$', re.M)


def refused_so_far(hub) -> float:
    text = httpx.get(hub.metrics_urls()["ingest"] + "/metrics", timeout=5).text
    return float(HTTP_REFUSED.search(text).group(1)) if HTTP_REFUSED.search(text) else 0.0


def post_raw(api, body: bytes):
    return api.post("/v1/incidents", content=body, headers={
        "Authorization": f"Bearer {DEMO_API_KEYS['merseyside']}", "Content-Type": "application/json"})


def test_repeated_names_and_nul_characters_are_refused_whole_kept_and_counted(api, hub, topic):
    cases = {}
    for what, edit, path in (
            ("a name twice", lambda t: t.replace('"force":', '"force": "cheshire", "force":', 1), "force"),
            ("a name twice, nested", lambda t: t.replace('"tool":', '"tool": "NONE", "tool":', 1), "risk.tool"),
            ("a \\u0000 escape", lambda t: t.replace('"MP-T-', '"MP-T-\\u0000', 1), "incident_id"),
            ("a NUL byte", lambda t: t.replace('"force":', '"force":\x00', 1), "(body)")):
        notification = fresh_incident()
        cases[what] = (notification["incident_id"], edit(json.dumps(notification)).encode(), path)
    before = refused_so_far(hub)
    for what, (incident_id, body, path) in cases.items():
        answer = post_raw(api, body)
        assert answer.status_code == 422, what
        [problem] = answer.json()["detail"]
        assert problem["path"] == path, (what, problem)
        assert re.search("more than once|NUL", problem["problem"]), (what, problem)
    dead = topic(INCIDENTS_DLQ, "dead-letter")
    for incident_id, body, _ in cases.values():
        dead.wait_for(lambda _: any(v["payload"] == body for v in dead.values(source="http")),
                      f"the refused {incident_id} on the dead-letter topic")
    assert refused_so_far(hub) == before + len(cases)
    incidents = topic(INCIDENTS, "incident")
    incidents.read_to_end()
    assert not [v for incident_id, *_ in cases.values() for v in incidents.values(incident_id=incident_id)]


def test_an_incident_id_outside_its_character_set_never_reaches_a_log_line(api, hub):
    forged = 'MP-1"}\n{"level":"error","event":"forged'
    answer = post_raw(api, json.dumps(fresh_incident(incident_id=forged)).encode())
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["detail"]] == ["incident_id"]
    log = (hub.log_dir / "ingest.log").read_text()
    assert "forged" not in log
