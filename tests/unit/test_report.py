"""The board's monthly figures as a pure function of decoded records (no broker)."""
import csv
import io
from datetime import datetime

import pytest

from referral_hub.commands.report import (CSV_COLUMNS, ENDINGS, PATHWAYS, Month, Records, Share, draw_chart,
                                 format_csv, format_table, month_report, percentile)

OCTOBER = Month(2026, 10)
ST_HELENS, KNOWSLEY = "E08000013", "E08000011"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def referral(rid, pathway="MARAC", area=ST_HELENS, reported="2026-10-05T20:00:00Z",
             due="2026-10-06T08:00:00Z", reasons=("visible_high_risk",)) -> dict:
    return {"referral_id": rid, "incident_id": f"inc-{rid}", "force": "merseyside", "area": area,
            "pathway": pathway, "subject_id": "P1", "recipient": "r", "reasons": list(reasons),
            "reported_at": at(reported), "due_at": at(due), "config_version": "sha256:test"}


def event(rid, kind, when, pathway="MARAC", reported="2026-10-05T20:00:00Z") -> dict:
    return {"event_id": f"evt-{rid}-{kind}-{when}", "referral_id": rid, "type": kind, "at": at(when),
            "pathway": pathway, "area": ST_HELENS, "reported_at": at(reported)}


def incident(incident_id, area=ST_HELENS, reported="2026-10-05T20:00:00Z", force="merseyside") -> dict:
    return {"force": force, "incident_id": incident_id, "local_authority": area,
            "reported_at": at(reported)}


def report_of(config, referrals=(), contacts=(), incidents=(), dead_letters=(), month=OCTOBER):
    return month_report(Records(list(incidents), list(referrals), list(contacts), list(dead_letters)),
                        month, config)


def area(report, code):
    return next(a for a in report.areas if a.code == code)


# --- percentiles --------------------------------------------------------------------

def test_percentiles_of_one_value_are_that_value():
    assert percentile([7.5], 50) == 7.5
    assert percentile([7.5], 90) == 7.5


def test_percentiles_are_nearest_rank_and_always_one_of_the_values():
    values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]  # any order
    assert percentile(values, 50) == 5    # rank ceil(0.5 x 10) = 5
    assert percentile(values, 90) == 9    # rank ceil(0.9 x 10) = 9
    assert percentile(values, 100) == 10
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # an even count: the lower middle value
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0], 90) == 3.0       # rank ceil(2.7) = 3
    assert percentile([1.0, 2.0], 90) == 2.0            # rank ceil(1.8) = 2
    assert percentile([5, 4, 3, 2, 1], 50) == 3          # rank ceil(2.5) = 3: rounded up, never down
    assert percentile([5, 4, 3, 2, 1], 90) == 5          # rank ceil(4.5) = 5
    assert percentile(list(range(1, 31)), 90) == 27     # rank 27 exactly: no floating-point 28


def test_no_values_no_percentile():
    assert percentile([], 50) is None


# --- the month on the UK calendar ---------------------------------------------------

@pytest.mark.parametrize(("moment", "october"), [
    ("2026-09-30T22:59:59Z", False),  # 23:59 BST on 30 September
    ("2026-09-30T23:30:00Z", True),   # 00:30 BST on 1 October
    ("2026-10-25T00:30:00Z", True),   # clocks go back at 01:00 UTC that morning
    ("2026-10-31T23:30:00Z", True),   # GMT again: 23:30 on 31 October
    ("2026-11-01T00:00:00Z", False),  # midnight GMT: November
])
def test_a_month_is_on_the_uk_calendar(moment, october):
    assert OCTOBER.holds(at(moment)) is october


def test_months_are_given_as_year_and_month():
    assert Month.parse("2026-10") == OCTOBER
    assert str(OCTOBER) == "2026-10" and OCTOBER.title == "October 2026"
    for bad in ("2026-13", "2026-1", "October", "2026-10-01", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(bad)


def test_referrals_and_incidents_count_in_the_month_of_the_report_in_uk_time(config):
    times = {"sep": "2026-09-30T22:30:00Z", "oct-first": "2026-09-30T23:30:00Z",
             "oct-last": "2026-10-31T23:30:00Z", "nov": "2026-11-01T00:30:00Z"}
    report = report_of(config,
                       referrals=[referral(k, reported=v, due="2026-11-02T09:00:00Z")
                                  for k, v in times.items()],
                       incidents=[incident(k, reported=v) for k, v in times.items()])
    st_helens = area(report, ST_HELENS)
    assert st_helens.referrals["MARAC"] == 2
    assert {t.referral_id for t in st_helens.timings} == {"oct-first", "oct-last"}
    assert st_helens.incidents == 2


# --- counting -----------------------------------------------------------------------

def test_a_referral_written_twice_counts_once(config):
    first = referral("r1")
    again = dict(first)  # at-least-once: the same record again
    report = report_of(config, referrals=[first, again, referral("r2")],
                       contacts=[event("r1", "safe_contact_made", "2026-10-06T07:00:00Z"),
                                 event("r1", "safe_contact_made", "2026-10-06T07:00:00Z")])
    st_helens = area(report, ST_HELENS)
    assert st_helens.referrals["MARAC"] == 2
    marac = st_helens.contact("MARAC")
    assert (marac.referrals, marac.contacted, marac.hours) == (2, 1, (11.0,))
    assert marac.in_time == Share(1, 2)


def test_incidents_are_distinct_per_force_and_id(config):
    report = report_of(config, incidents=[
        incident("A"), incident("A"), incident("A", force="cheshire"), incident("B", area=KNOWSLEY)])
    assert area(report, ST_HELENS).incidents == 2
    assert area(report, KNOWSLEY).incidents == 1
    assert report.all_areas.incidents == 3


def test_every_pathway_is_listed_and_areas_are_named_from_configuration(config):
    report = report_of(config, referrals=[referral("r1", pathway="MATAC", area="E09000999")])
    assert [a.name for a in report.areas] == ["E09000999", "Halton", "Knowsley", "Sefton", "St Helens"]
    assert area(report, "E09000999").referrals == {p: int(p == "MATAC") for p in PATHWAYS}
    assert area(report, ST_HELENS).referrals == dict.fromkeys(PATHWAYS, 0)


def test_repeat_marac_rate(config):
    report = report_of(config, referrals=[
        referral("r1", reasons=("visible_high_risk", "repeat_marac")), referral("r2"),
        referral("r3"), referral("r4", pathway="IDVA", reasons=("repeat_marac",)),
        referral("r5", area=KNOWSLEY, pathway="IDVA")])
    assert area(report, ST_HELENS).repeat_marac == Share(1, 3)
    assert area(report, KNOWSLEY).repeat_marac == Share(0, 0)
    assert str(area(report, KNOWSLEY).repeat_marac) == "-"
    assert str(Share(1, 3)) == "33% (1/3)"


# --- time to contact ----------------------------------------------------------------

def test_first_qualifying_contact_against_the_deadline(config):
    due = "2026-10-06T08:00:00Z"
    report = report_of(config, referrals=[referral(f"r{n}", due=due) for n in range(1, 6)], contacts=[
        event("r1", "safe_contact_made", "2026-10-06T07:00:00Z"),   # before due: within
        event("r2", "safe_contact_made", "2026-10-06T08:00:00Z"),   # exactly at due: within
        event("r3", "contact_attempted", "2026-10-06T07:00:00Z"),   # an attempt is not contact
        event("r3", "safe_contact_made", "2026-10-06T10:00:00Z"),   # ... so this is late
        event("r4", "contact_attempted", "2026-10-06T07:00:00Z"),   # attempts only: never contacted
        event("r4", "unable_to_contact", "2026-10-06T09:00:00Z"),
        event("r4", "declined", "2026-10-06T09:30:00Z"),
        event("r4", "acknowledged", "2026-10-06T06:00:00Z"),        # contact only for ENCOMPASS
        event("r1", "delivered", "2026-10-05T20:01:00Z"),           # delivery is not contact
    ])  # r5: nothing at all
    marac = area(report, ST_HELENS).contact("MARAC")
    assert marac.hours == (11.0, 12.0, 14.0)
    assert (marac.median, marac.p90) == (12.0, 14.0)
    assert marac.in_time == Share(2, 5)  # never contacted counts as not within
    assert {t.referral_id: t.in_time for t in area(report, ST_HELENS).timings} == {
        "r1": True, "r2": True, "r3": False, "r4": False, "r5": False}


def test_the_earliest_contact_counts_whatever_order_the_events_arrive_in(config):
    report = report_of(config, referrals=[referral("r1")], contacts=[
        event("r1", "safe_contact_made", "2026-10-07T10:00:00Z"),
        event("r1", "safe_contact_made", "2026-10-06T06:00:00Z")])
    assert area(report, ST_HELENS).contact("MARAC").hours == (10.0,)


def test_encompass_stops_the_clock_at_acknowledged(config):
    reported, due = "2026-10-05T20:00:00Z", "2026-10-06T08:00:00Z"
    children = [referral(f"c{n}", pathway="ENCOMPASS", reported=reported, due=due) for n in (1, 2)]
    report = report_of(config, referrals=children, contacts=[
        event("c1", "acknowledged", "2026-10-06T07:30:00Z", pathway="ENCOMPASS"),
        event("c2", "safe_contact_made", "2026-10-06T07:30:00Z", pathway="ENCOMPASS")])
    encompass = area(report, ST_HELENS).contact("ENCOMPASS")
    assert (encompass.hours, encompass.in_time) == ((11.5,), Share(1, 2))


def test_no_data_is_a_dash_not_a_zero(config):
    report = report_of(config, referrals=[referral("r1")])
    marac = area(report, ST_HELENS).contact("MARAC")
    assert (marac.median, marac.p90, marac.in_time) == (None, None, Share(0, 1))
    line = next(row for row in format_table(report).splitlines() if row.startswith("  MATAC"))
    assert line.split() == ["MATAC", "0", "0", "-", "-", "-"]


def test_contacts_of_other_months_and_unknown_referrals_are_ignored(config):
    report = report_of(config, referrals=[referral("r1"), referral("nov", reported="2026-11-02T10:00:00Z",
                                                                   due="2026-11-03T09:00:00Z")],
                       contacts=[event("nov", "safe_contact_made", "2026-11-02T11:00:00Z"),
                                 event("ghost", "safe_contact_made", "2026-10-06T07:00:00Z")])
    assert report.all_areas.timings[0].referral_id == "r1"
    assert len(report.all_areas.timings) == 1
    assert report.all_areas.contact("MARAC").contacted == 0


# --- Encompass before school --------------------------------------------------------

def test_children_notified_before_school_by_their_first_delivery(config):
    due = "2026-10-06T08:00:00Z"
    children = [referral(f"c{n}", pathway="ENCOMPASS", due=due) for n in range(1, 5)]
    report = report_of(config, referrals=children, contacts=[
        event("c1", "delivered", "2026-10-05T20:01:00Z", pathway="ENCOMPASS"),
        event("c1", "delivered", "2026-10-06T09:00:00Z", pathway="ENCOMPASS"),  # a redelivery
        event("c2", "delivered", "2026-10-06T08:00:00Z", pathway="ENCOMPASS"),  # at due: in time
        event("c3", "delivered", "2026-10-06T08:01:00Z", pathway="ENCOMPASS"),  # school had started
    ])  # c4: never delivered
    st_helens = area(report, ST_HELENS)
    assert st_helens.referrals["ENCOMPASS"] == 4
    assert st_helens.encompass_before_school == Share(2, 4)


# --- refused notifications ----------------------------------------------------------

def test_refused_notifications_by_month_received_and_force(config):
    def dead(received, force=None):
        return {"received_at": at(received), "source": "http", "force": force}
    report = report_of(config, dead_letters=[
        dead("2026-10-13T09:15:00Z", "merseyside"), dead("2026-10-20T09:15:00Z", "merseyside"),
        dead("2026-10-31T23:30:00Z", "cheshire"), dead("2026-10-02T10:00:00Z"),
        dead("2026-09-30T22:30:00Z", "cheshire"), dead("2026-11-01T00:30:00Z", "merseyside")])
    assert (report.refused, report.refused_by_force) == (4, {"cheshire": 1, "merseyside": 2})
    assert ("Refused notifications received in October 2026 (all areas): 4 "
            "(Cheshire Constabulary 1, Merseyside Police 2, force not known 1)") in format_table(report)


# --- output -------------------------------------------------------------------------

def test_the_csv_has_one_row_per_area_figure_and_pathway(config):
    report = report_of(config, referrals=[referral("r1")],
                       contacts=[event("r1", "safe_contact_made", "2026-10-06T07:00:00Z")],
                       dead_letters=[{"received_at": at("2026-10-13T09:15:00Z"), "source": "http",
                                      "force": "merseyside"}])
    rows = list(csv.DictReader(io.StringIO(format_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    # 4 areas and "All areas", each 10 figures + 6 per pathway; then refused, total and per force
    assert len(rows) == 5 * (10 + (6 + len(ENDINGS)) * len(PATHWAYS)) + 2
    value = {(r["area"], r["pathway"], r["force"], r["figure"]): r["value"] for r in rows}
    assert value[("St Helens", "MARAC", "", "time_to_contact_median_hours")] == "11.00"
    assert value[("St Helens", "MARAC", "", "contacted_within_deadline_share")] == "1.0000"
    assert value[("St Helens", "IDVA", "", "time_to_contact_median_hours")] == ""
    assert value[("Halton", "", "", "repeat_marac_rate")] == ""
    assert value[("All areas", "", "merseyside", "refused_notifications")] == "1"


def test_the_chart_draws_even_an_empty_month(config, tmp_path):
    path = tmp_path / "empty.png"
    draw_chart(report_of(config), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_board_sees_the_specialist_and_out_of_area_pathways(config):
    report = report_of(config, referrals=[referral("r1"), referral("s1", pathway="SPECIALIST")])
    st_helens = format_table(report).split("St Helens (")[1]
    rows = {}  # each pathway's first row: the referrals table (the endings table comes after)
    for row in st_helens.splitlines():
        if row.startswith(("  SPECIALIST", "  OUT_OF_AREA")):
            rows.setdefault(row.split()[0], row.split()[1:])
    assert rows["SPECIALIST"][:2] == ["1", "0"] and rows["OUT_OF_AREA"][:2] == ["0", "0"]


def test_the_report_shows_how_referrals_ended_by_pathway_and_area(config):
    from datetime import UTC, datetime
    reported, due = datetime(2026, 10, 5, 10, tzinfo=UTC), datetime(2026, 10, 6, 8, tzinfo=UTC)
    referral = {"referral_id": "ref-1", "pathway": "IDVA", "area": "E08000013", "reasons": [],
                "reported_at": reported, "due_at": due}
    events = [{"referral_id": "ref-1", "type": "declined", "at": datetime(2026, 10, 5, 12, tzinfo=UTC)},
              {"referral_id": "ref-1", "type": "safe_contact_made", "at": datetime(2026, 10, 9, tzinfo=UTC)}]
    report = month_report(Records(referrals=[referral], contacts=events), Month.parse("2026-10"), config)
    [st_helens] = [a for a in report.areas if a.code == "E08000013"]
    assert st_helens.endings("IDVA")["declined"] == 1 and st_helens.endings("IDVA")["contacted"] == 0
