"""The demo's tables read as a MARAC coordinator reads a list: names, UK times, reasons."""
from datetime import UTC, datetime

from referral_hub.commands.demo import (
    DEMO_NOW,
    expected_overdue,
    expected_referrals,
    print_overdue,
    print_table,
    sample_lines,
    uk_short,
)


def test_recipients_are_named_and_deadlines_are_uk_local_with_the_weekday(config, capsys):
    expected = expected_referrals(sample_lines(), config)
    posted = {d.incident_id: 0.0 for d in expected.values()}
    print_table(expected, posted, {referral_id: 1.5 for referral_id in expected}, config)
    table = capsys.readouterr().out
    assert "setting-104808" not in table and "st-helens-marac" not in table
    [school_row] = [row for row in table.splitlines() if "Example Park Primary School" in row]
    assert "child present" in school_row and "Mon 23 Nov 09:00" in school_row
    [older_victim] = [row for row in table.splitlines() if row.split()[:2] == ["CH-2026-0100042", "ADULT_SAFEGUARDING"]]
    assert "Halton Adult Social Care Safeguarding" in older_victim and "older victim" in older_victim
    assert "Mon 23 Nov 19:40" in older_victim  # a 24-hour deadline, not a working day's start


def test_deadlines_in_summer_are_british_summer_time():
    assert uk_short(datetime(2026, 6, 1, 8, 0, tzinfo=UTC)) == "Mon 1 Jun 09:00"


def test_the_overdue_list_names_each_late_referral_and_who_was_told(config, capsys):
    expected = expected_referrals(sample_lines(), config)
    late = expected_overdue(expected, DEMO_NOW)
    print_overdue(expected, late, on_topic=late, config=config, now=DEMO_NOW)
    listing = capsys.readouterr().out
    assert f"Tue 24 Nov 12:00 UK time, {len(late)} referrals are past their deadline" in listing
    rows = [row for row in listing.splitlines() if row.strip().startswith(("MP-", "CH-"))]
    assert len(rows) == len(late) and "NOT ON overdue.v1" not in listing
    assert any("St Helens MASH IDVA" in row and "Mon 23 Nov 09:00" in row and "27 h" in row
               for row in rows), rows
