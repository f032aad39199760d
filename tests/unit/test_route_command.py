"""`referral-hub route`: JSON Lines in, decisions out, refused lines on stderr with status 2."""
import json
import subprocess
import sys

from referral_hub.settings import REPO_ROOT
from tests.factories import incident


def run_route(lines: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "referral_hub.commands.cli", "route", *args],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          cwd=REPO_ROOT)


def test_decisions_are_printed_one_per_line_in_the_spec_format():
    result = run_route([json.dumps(incident())])
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])
    assert first == {"incident_id": "MP-2026-0004711", "pathway": "MARAC", "subject_id": "MP-P-88123",
                     "recipient": "st-helens-marac", "reasons": ["visible_high_risk"],
                     "due_at": "2026-11-23T09:00:00Z", "action": "refer",
                     "referral_id": "ref-aa5a05a79675cf8ead047834", "related_incidents": []}
    assert len(result.stdout.splitlines()) == 4


def test_refused_lines_are_reported_and_the_rest_still_routed():
    bad = incident(incident_id="MP-2", risk__dash_yes_count=31, risk__officer_grade=None)
    result = run_route(["{", json.dumps(bad), json.dumps(incident(incident_id="MP-3"))])
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("line 1: (body): Invalid JSON")
    assert result.stderr.splitlines()[1] == "line 2: risk.dash_yes_count: Input should be less than or equal to 27"
    assert {json.loads(line)["incident_id"] for line in result.stdout.splitlines()} == {"MP-3"}


def test_history_builds_in_the_order_given():
    medium = {"tool": "DASH", "dash_yes_count": 11}
    lines = [json.dumps(incident(incident_id=f"MP-{n}", reported_at=f"2026-0{n}-01T10:00:00Z",
                                 occurred_at=None, risk=medium, children=[])) for n in (1, 2, 3)]
    result = run_route([*lines, lines[0]])  # the first again, at the end: changes nothing
    assert result.returncode == 0, result.stderr
    marac = [json.loads(line) for line in result.stdout.splitlines() if '"MARAC"' in line]
    assert [(d["incident_id"], d["reasons"]) for d in marac] == [("MP-3", ["potential_escalation"])]
    assert len(result.stdout.splitlines()) == 3 + 1  # 2 community, then MARAC and IDVA


def test_another_configuration_directory_is_used_when_given(tmp_path):
    result = run_route([json.dumps(incident())], "--config", str(tmp_path))
    assert result.returncode == 78 and "hub.toml: file not found" in result.stderr


def test_explain_gives_each_decision_its_rule_and_facts_in_plain_words():
    medium = {"tool": "DASH", "dash_yes_count": 11}
    lines = [json.dumps(incident(incident_id=f"MP-{n}", reported_at=reported, occurred_at=None,
                                 risk=medium, children=[]))
             for n, reported in ((1, "2026-01-04T10:00:00Z"), (2, "2026-03-19T10:00:00Z"),
                                 (3, "2026-06-02T10:00:00Z"))]
    result = run_route(lines, "--explain")
    marac = next(json.loads(line) for line in result.stdout.splitlines() if '"MARAC"' in line)
    assert marac["explanation"][0] == (
        "potential_escalation: third incident in 365 days: 2026-01-04, 2026-03-19, 2026-06-02")
    assert marac["explanation"][-1].startswith("due Wednesday 03 June 2026 09:00 UK time: 1 working day")


def test_compare_shows_the_change_in_referrals_per_area_and_pathway(tmp_path):
    import shutil
    new = tmp_path / "new"
    shutil.copytree(REPO_ROOT / "config", new)
    area = new / "areas" / "st-helens.toml"
    area.write_text(area.read_text().replace(
        'marac_criteria = ["visible_high_risk", "professional_judgement", "potential_escalation", "repeat_marac"]',
        'marac_criteria = ["visible_high_risk"]'))
    samples = (REPO_ROOT / "samples" / "incidents.jsonl").read_text().splitlines()
    result = run_route(samples, "--compare", str(REPO_ROOT / "config"), str(new))
    rows = compared(result.stdout)
    # The professional-judgement cases no longer go to MARAC (both to community advocacy).
    assert rows[("St Helens", "MARAC")][:3] == ["3", "1", "-2"]
    assert rows[("St Helens", "COMMUNITY_ADVOCACY")][:3] == ["0", "2", "+2"]
    # The sample with a bad child entry is routed: the MASH checks the child (second edition).
    assert result.stdout.splitlines()[-1].split() == ["refused", "lines", "0", "0", "+0"]


def compared(table: str) -> dict[tuple[str, str], list[str]]:
    """(area, pathway) -> old, new, change, earlier, later, recipient."""
    rows = {}
    for line in table.splitlines()[1:-1]:
        *area, pathway, old, new, change, earlier, later, recipient = line.split()
        rows[(" ".join(area), pathway)] = [old, new, change, earlier, later, recipient]
    return rows


def test_the_first_edition_configuration_against_the_second_on_the_synthetic_month():
    """The month has no flags, related children or counter-allegations: what changes is who
    takes Knowsley's serial perpetrator (its own MATAC, no longer a Merseyside one)."""
    month = (REPO_ROOT / "samples" / "month-2026-10" / "incidents.jsonl").read_text().splitlines()
    result = run_route(month, "--compare", str(REPO_ROOT / "samples" / "first-edition-config"),
                       str(REPO_ROOT / "config"))
    assert result.returncode == 0, result.stderr
    rows = compared(result.stdout)
    changed = {key: row for key, row in rows.items() if row[2:] != ["+0", "0", "0", "0"]}
    assert changed == {("Knowsley", "MATAC"): ["1", "1", "+0", "0", "0", "1"]}
    assert rows[("St Helens", "ENCOMPASS")] == ["3", "3", "+0", "0", "0", "0"]
