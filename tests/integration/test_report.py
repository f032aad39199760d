"""The partnership board's monthly figures from the real broker: the synthetic October 2026 in
samples/month-2026-10 written by `referral-hub load-month`, read back by `referral-hub report`,
and every figure checked against a count made by hand from the sample files.

Nothing else on the shared broker is reported in October 2026: the other tests' incidents are
from other months and their dead letters are received now (the suite must not run in October
2026 for the refused count to hold). When the hub's services are up (the whole suite), the
router decides these incidents again with the same ids, and notify records `delivered` now,
weeks after every deadline here: neither changes a figure.
"""
import csv
import io
import re
from contextlib import redirect_stdout

import pytest

from referral_hub.commands import cli
from referral_hub.adapters.kafka import make_producer, produce_and_wait
from referral_hub.commands.report import CSV_COLUMNS, ENDINGS, PATHWAYS
from referral_hub.commands.sample_month import read_sample
from referral_hub.settings import REPO_ROOT
from referral_hub.adapters.topics import INCIDENTS, REFERRALS

SAMPLE = REPO_ROOT / "samples" / "month-2026-10"

# The hand count. Read off incidents.jsonl (who was referred, by the rules in
# shared/spec/pathways.md, and due when), contacts.csv (deliveries and first contacts) and
# refused.jsonl; worked through referral by referral in samples/month-2026-10/README.md.
# Hours are from reported_at to the first safe_contact_made (ENCOMPASS: acknowledged);
# median and 90th percentile by nearest rank (rank ceil(p/100 x n) of the n contacted).
# Per pathway: (referrals, contacted, median hours, 90th percentile hours, within deadline);
# None is no data ("-"). Pathways not listed have no referral in that area.
HAND_COUNT = {
    "Halton": {
        "code": "E06000006",
        "incidents": 4,                  # OCT-CH-031..034 (-134 June, -234 August: not October)
        "referrals": 10, "within": 4,
        "repeat_marac": (0, 3),          # -031 visible high risk, -032 judgement, -034 escalation
        "encompass_before_school": (1, 2),  # C31B a minute after the report; C31A 09:15 BST
        "pathways": {
            "MARAC": (3, 3, 14.0, 17.5, 1),              # 6.0 in, 14.0 late, 17.5 late
            "IDVA": (3, 3, 12.0, 23.0, 2),               # 2.0 in, 12.0 in, 23.0 late
            "COMMUNITY_ADVOCACY": (1, 0, None, None, 0),  # -033: an attempt only
            "ENCOMPASS": (2, 1, 21.0, 21.0, 0),          # C31A 21.0 late; C31B never acknowledged
            "MASH_IDVA": (1, 1, 19.0, 19.0, 1),          # -031 19.0 in
        },
    },
    "Knowsley": {
        "code": "E08000011",
        "incidents": 5,                  # OCT-MP-011..015 (-014: no referral at all)
        "referrals": 11, "within": 8,
        "repeat_marac": (1, 2),          # -013, after -113's MARAC in September; -011 not
        "encompass_before_school": (2, 2),  # C11, C12 delivered a minute after the report
        "pathways": {
            "MARAC": (2, 2, 4.0, 13.0, 2),               # 4.0 in, 13.0 in
            "IDVA": (2, 2, 6.0, 15.0, 1),                # 6.0 in, 15.0 late
            "COMMUNITY_ADVOCACY": (2, 2, 20.0, 85.0, 2),  # 20.0 in, 85.0 in
            "ENCOMPASS": (2, 2, 13.8, 229.5, 2),         # 13.8 in; 229.5 in (half term: due 2 Nov)
            "MASH_IDVA": (2, 2, 16.0, 68.0, 0),          # 16.0 late, 68.0 late
            "MATAC": (1, 1, 384.0, 384.0, 1),            # -015's perpetrator, 2nd victim: 384.0 in
        },
    },
    "Sefton": {
        "code": "E08000014",
        "incidents": 3,                  # OCT-MP-021..023
        "referrals": 7, "within": 4,
        "repeat_marac": (0, 1),          # -022 MERIT gold
        "encompass_before_school": (1, 1),  # C21 delivered 08:01 BST, school at 09:00
        "pathways": {
            "MARAC": (1, 0, None, None, 0),              # -022 never contacted
            "IDVA": (1, 1, 10.0, 10.0, 1),               # 10.0 in
            "COMMUNITY_ADVOCACY": (1, 1, 8.0, 8.0, 1),   # 8.0 in (protective notice: 24 hours)
            "ADULT_SAFEGUARDING": (1, 1, 15.0, 15.0, 1),  # 15.0 in
            "ENCOMPASS": (1, 1, 1.5, 1.5, 0),            # 1.5 late: due 09:00 BST the same morning
            "MASH_IDVA": (2, 2, 64.0, 76.0, 1),          # 64.0 exactly at due: in; 76.0 late
        },
    },
    "St Helens": {
        "code": "E08000013",
        "incidents": 5,                  # OCT-MP-001..005 (-002 is 1 Oct 00:30 BST, -005 31 Oct
                                         # 23:30 GMT; -006 is 1 Nov 00:30 GMT; -101 August)
        "referrals": 15, "within": 7,
        "repeat_marac": (1, 3),          # -001, after -101's MARAC in August; -002, -005 not
        "encompass_before_school": (2, 3),  # C01, C05A a minute after the report; C05B 09:20 GMT
        "pathways": {
            "MARAC": (3, 3, 14.0, 33.0, 2),              # 10.0 in, 14.0 late, 33.0 in
            "IDVA": (3, 2, 11.5, 36.0, 1),               # 11.5 in, 36.0 late; -002 attempt only
            "COMMUNITY_ADVOCACY": (1, 1, 28.0, 28.0, 1),  # 28.0 in (the same report twice)
            "YOUNG_PEOPLE": (1, 1, 72.0, 72.0, 1),       # 72.0 in
            "ADULT_SAFEGUARDING": (1, 1, 30.0, 30.0, 0),  # 30.0 late (24 hours)
            "ENCOMPASS": (3, 3, 33.25, 35.0, 2),         # 11.0 in, 33.25 in, 35.0 late
            "MASH_IDVA": (3, 1, 16.0, 16.0, 0),          # 16.0 late; -004 nothing; -005 declined
        },
    },
    "All areas": {
        "code": "",
        "incidents": 17, "referrals": 43, "within": 23,  # 4+5+3+5; 10+11+7+15; 4+8+4+7
        "repeat_marac": (2, 9),
        "encompass_before_school": (6, 8),
        "pathways": {
            "MARAC": (9, 8, 13.0, 33.0, 5),      # 4 6 10 13 14 14 17.5 33: ranks 4 and 8
            "IDVA": (9, 8, 11.5, 36.0, 5),       # 2 6 10 11.5 12 15 23 36: ranks 4 and 8
            "COMMUNITY_ADVOCACY": (5, 4, 20.0, 85.0, 4),  # 8 20 28 85: ranks 2 and 4
            "YOUNG_PEOPLE": (1, 1, 72.0, 72.0, 1),
            "ADULT_SAFEGUARDING": (2, 2, 15.0, 30.0, 1),  # 15 30: ranks 1 and 2
            "ENCOMPASS": (8, 7, 21.0, 229.5, 4),  # 1.5 11 13.8 21 33.25 35 229.5: ranks 4 and 7
            "MASH_IDVA": (8, 6, 19.0, 76.0, 2),   # 16 16 19 64 68 76: ranks 3 and 6
            "MATAC": (1, 1, 384.0, 384.0, 1),
        },
    },
}
REFUSED = {"": 1, "merseyside": 1}  # refused.jsonl: 13 October Merseyside; 2 November is not October
NO_REFERRALS = (0, 0, None, None, 0)


@pytest.fixture(scope="module")
def loaded(kafka, config, codec):
    """The month on the test broker, with one incident and one referral written twice more,
    as an at-least-once producer may."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RH_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
        with redirect_stdout(io.StringIO()) as out:
            assert cli.main(["load-month", str(SAMPLE)]) == 0
        assert out.getvalue().startswith("23 incidents on incidents.v1, 49 referrals on referrals.v1")
        month = read_sample(SAMPLE, config)
        incident, decision = next((i, d) for i, d in month.decisions if i.incident_id == "OCT-MP-001")
        producer = make_producer(kafka)
        produce_and_wait(producer, INCIDENTS, incident.key, codec.encode("incident", incident.model_dump()))
        produce_and_wait(producer, REFERRALS, incident.key, codec.encode("referral", decision.as_record()))
        yield


def run_report(*args: str) -> str:
    with redirect_stdout(io.StringIO()) as out:
        assert cli.main(["report", "--month", "2026-10", *args]) == 0
    return out.getvalue()


def share(text: str) -> tuple[int, int] | None:
    """'67% (2/3)' -> (2, 3), checking the percentage; '-' -> None."""
    if text == "-":
        return None
    match = re.fullmatch(r"(\d+)% \((\d+)/(\d+)\)", text)
    count, of = int(match[2]), int(match[3])
    assert int(match[1]) == round(100 * count / of)
    return count, of


def test_the_table_shows_the_hand_count(loaded):
    table = run_report()
    lines = table.splitlines()
    blocks = {}
    for index, line in enumerate(lines[:-1]):
        if lines[index + 1] and set(lines[index + 1]) == {"-"}:
            blocks[re.sub(r" \(\w+\)$", "", line)] = lines[index + 2:index + 7 + len(PATHWAYS)]
    assert list(blocks) == list(HAND_COUNT)
    for area, expected in HAND_COUNT.items():
        block = blocks[area]
        summary = re.fullmatch(r"  Incidents: (\d+)   Referrals: (\d+)   Repeat MARAC rate: (.+)", block[0])
        assert (int(summary[1]), int(summary[2]), share(summary[3])) == (
            expected["incidents"], expected["referrals"], expected["repeat_marac"]), area
        encompass = re.fullmatch(r"  Children notified through Encompass: (\d+)   "
                                 r"notified before school started: (.+)", block[1])
        assert (int(encompass[1]), share(encompass[2])) == (
            expected["pathways"].get("ENCOMPASS", NO_REFERRALS)[0], expected["encompass_before_school"])
        rows = {line.split()[0]: line.split() for line in block[4:4 + len(PATHWAYS)]}
        assert list(rows) == list(PATHWAYS)
        for pathway, row in rows.items():
            referrals, contacted, median, p90, within = expected["pathways"].get(pathway, NO_REFERRALS)
            assert row[1:3] == [str(referrals), str(contacted)], (area, pathway)
            for cell, hours in ((row[3], median), (row[4], p90)):
                if hours is None:
                    assert cell == "-", (area, pathway)
                else:  # one decimal on screen
                    assert float(cell) == pytest.approx(hours, abs=0.05), (area, pathway, cell)
            assert share(" ".join(row[5:])) == ((within, referrals) if referrals else None), (area, pathway)
        total = block[4 + len(PATHWAYS)].split()
        assert total[:4] == ["all", "pathways", str(expected["referrals"]),
                             str(sum(p[1] for p in expected["pathways"].values()))]
        assert share(" ".join(total[4:])) == (expected["within"], expected["referrals"])
    assert "Refused notifications received in October 2026 (all areas): 1 (Merseyside Police 1)" in lines


def expected_csv() -> dict[tuple[str, str, str, str], str]:
    """The hand count in the CSV's terms: (area, pathway, force, figure) -> value."""
    def rate(count: int, of: int) -> str:
        return f"{count / of:.4f}" if of else ""

    def hours(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    rows = {}
    for area, expected in HAND_COUNT.items():
        repeat, encompass = expected["repeat_marac"], expected["encompass_before_school"]
        figures = {"incidents": expected["incidents"], "referrals": expected["referrals"],
                   "marac_referrals": repeat[1], "repeat_marac_referrals": repeat[0],
                   "repeat_marac_rate": rate(*repeat), "encompass_notifications": encompass[1],
                   "encompass_delivered_before_school": encompass[0],
                   "encompass_delivered_before_school_share": rate(*encompass),
                   "contacted_within_deadline": expected["within"],
                   "contacted_within_deadline_share": rate(expected["within"], expected["referrals"])}
        rows |= {(area, "", "", figure): str(value) for figure, value in figures.items()}
        for pathway in PATHWAYS:
            referrals, contacted, median, p90, within = expected["pathways"].get(pathway, NO_REFERRALS)
            figures = {"referrals": referrals, "contacted": contacted,
                       "time_to_contact_median_hours": hours(median),
                       "time_to_contact_p90_hours": hours(p90), "contacted_within_deadline": within,
                       "contacted_within_deadline_share": rate(within, referrals)}
            rows |= {(area, pathway, "", figure): str(value) for figure, value in figures.items()}
    rows |= {("All areas", "", force, "refused_notifications"): str(n) for force, n in REFUSED.items()}
    return rows


def test_the_csv_holds_every_figure_of_the_hand_count(loaded):
    rows = list(csv.DictReader(io.StringIO(run_report("--csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["month"] for r in rows} == {"2026-10"}
    assert {r["area"]: r["area_code"] for r in rows} == {a: e["code"] for a, e in HAND_COUNT.items()}
    found = {(r["area"], r["pathway"], r["force"], r["figure"]): r["value"] for r in rows}
    assert len(found) == len(rows)  # one row per area, pathway, force and figure
    endings = {key: value for key, value in found.items() if key[3].startswith("ended_")}
    assert {key: value for key, value in found.items() if key not in endings} == expected_csv()
    for (area, pathway, force, figure), value in found.items():  # every referral ended once, or is open
        if figure == "referrals" and pathway:
            assert sum(int(endings[(area, pathway, force, f"ended_{e}")]) for e in ENDINGS) == int(value)


def test_the_chart_is_a_png_drawn_by_matplotlib(loaded, tmp_path):
    chart = tmp_path / "october.png"
    table = run_report("--chart", str(chart))
    assert table.startswith("Partnership board figures: October 2026")
    image = chart.read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Matplotlib" in image[:400]  # the Software text chunk matplotlib writes
    assert len(image) > 50_000  # a drawn A4 page at 150 dpi, not an empty canvas
