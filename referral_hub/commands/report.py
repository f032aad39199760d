"""`referral-hub report --month YYYY-MM`: the partnership board's monthly figures, per area.

Three layers, so the figures can be tested without a broker:

    read_topics(kafka, codec, progress)  each topic from its beginning up to its high
                                         watermark as it was when the command started
    month_report(records, month, config) the figures: a pure function of the decoded records
    format_table / format_csv / draw_chart   the same figures on screen, as CSV, as a PNG

What is counted (shared/spec/pathways.md, "Time to contact"):

- A referral belongs to the month its incident was reported in, on the UK calendar
  (Europe/London): 2026-09-30T23:30Z is 1 October 00:30 BST, so October.
- Incidents: distinct (force, incident_id) on incidents.v1, by the area (local_authority)
  and the month of `reported_at`.
- Referrals: referrals.v1 is at-least-once, so each referral_id counts once.
- Repeat MARAC rate: MARAC referrals with reason `repeat_marac` over all MARAC referrals.
- Encompass: ENCOMPASS referrals (one per child), and the share whose first `delivered`
  event on contacts.v1 is at or before the referral's `due_at` (the start of the school day).
- Time to contact: `reported_at` to the earliest `safe_contact_made` (for ENCOMPASS the
  earliest `acknowledged`) on contacts.v1; attempts, `unable_to_contact` and `declined` are
  not contact. The median and the 90th percentile are over the referrals contacted, by the
  nearest-rank method (`percentile`); referrals never contacted are left out of the times.
- Contacted within the deadline: first contact at or before `due_at`, over every referral
  of the month; a referral never contacted is not within.
- Refused notifications: incidents.dlq.v1 records by the month of `received_at`. A dead
  letter has no reliable area, so it is counted for all areas, and per force where set.
"""
from __future__ import annotations

import csv
import io
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TextIO, get_args

from confluent_kafka import KafkaException

from referral_hub.adapters.avro import AvroCodec, UnknownSchema, codec_for
from referral_hub.config import HubConfig, Pathway, load_config
from referral_hub.core.incident import UK
from referral_hub.adapters.kafka import existing_topics, replay_consumer
from referral_hub.commands.progress import Progress
from referral_hub.core.timeliness import CLOSING_OUTCOMES, is_first_contact_type
from referral_hub.settings import HubSettings, KafkaSettings
from referral_hub.adapters.topics import CONTACTS, INCIDENTS, INCIDENTS_DLQ, REFERRALS

PATHWAYS: tuple[str, ...] = get_args(Pathway)
NOTES = (
    "Time to contact: from the report to the first safe_contact_made (ENCOMPASS: acknowledged);",
    "an attempt is not contact. Median and 90th percentile: nearest rank over the referrals",
    "contacted, i.e. the value at rank ceil(p/100 x n) in ascending order (of 2 values the median",
    "is the lower). Within deadline: first contact at or before due_at, over all referrals; a",
    "referral never contacted is not within. Encompass: first delivered at or before due_at.",
    "'-': no data.")


# --- the month ----------------------------------------------------------------------

@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise ValueError(f"month {text!r}: give it as YYYY-MM, e.g. 2026-10")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        return date(self.year, self.month, 1).strftime("%B %Y")

    def holds(self, moment: datetime) -> bool:
        """The moment falls in this month on the UK calendar."""
        local = moment.astimezone(UK)
        return (local.year, local.month) == (self.year, self.month)


# --- the figures --------------------------------------------------------------------

def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it, i.e.
    the value at rank ceil(p/100 x n) of the n values in ascending order. Always one of the
    values; the median (p=50) of an even count is the lower middle one. None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))  # integer ceiling: no floating-point rank
    return ordered[rank - 1]


@dataclass(frozen=True)
class Share:
    count: int
    of: int

    @property
    def rate(self) -> float | None:
        return self.count / self.of if self.of else None

    def __str__(self) -> str:
        return "-" if not self.of else f"{self.rate:.0%} ({self.count}/{self.of})"


@dataclass(frozen=True)
class Timing:
    """One referral's clock: from the report to its first contact (None: never) and its due time."""
    referral_id: str
    pathway: str
    reported_at: datetime
    due_at: datetime
    first_contact: datetime | None
    outcome: str = "open"  # how it ended: contacted, declined, unable_to_contact, recalled

    @property
    def contact_hours(self) -> float | None:
        if self.first_contact is None:
            return None
        return (self.first_contact - self.reported_at).total_seconds() / 3600

    @property
    def allowed_hours(self) -> float:
        return (self.due_at - self.reported_at).total_seconds() / 3600

    @property
    def in_time(self) -> bool:
        return self.first_contact is not None and self.first_contact <= self.due_at


@dataclass(frozen=True)
class ContactTimes:
    """Time to contact for one pathway in one area."""
    referrals: int
    hours: tuple[float, ...]  # of the referrals contacted, ascending
    in_time: Share

    @property
    def contacted(self) -> int:
        return len(self.hours)

    @property
    def median(self) -> float | None:
        return percentile(self.hours, 50)

    @property
    def p90(self) -> float | None:
        return percentile(self.hours, 90)


@dataclass(frozen=True)
class AreaFigures:
    code: str | None  # None: all areas
    name: str
    incidents: int
    referrals: dict[str, int]  # every pathway, 0 included
    repeat_marac: Share
    encompass_before_school: Share
    timings: tuple[Timing, ...]

    @property
    def total_referrals(self) -> int:
        return sum(self.referrals.values())

    def contact(self, pathway: str) -> ContactTimes:
        timings = [t for t in self.timings if t.pathway == pathway]
        return ContactTimes(len(timings), tuple(sorted(t.contact_hours for t in timings
                                                       if t.first_contact is not None)),
                            Share(sum(t.in_time for t in timings), len(timings)))

    def endings(self, pathway: str | None = None) -> dict[str, int]:
        """How referrals ended (the first outcome of each), open ones included."""
        counts = Counter(t.outcome for t in self.timings if pathway in (None, t.pathway))
        return {outcome: counts.get(outcome, 0) for outcome in ENDINGS}

    @property
    def in_time(self) -> Share:
        """Every pathway together."""
        return Share(sum(t.in_time for t in self.timings), len(self.timings))


@dataclass(frozen=True)
class MonthReport:
    month: Month
    areas: tuple[AreaFigures, ...]
    all_areas: AreaFigures
    refused: int
    refused_by_force: dict[str, int]  # forces that were set on the dead letter
    force_names: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[AreaFigures, ...]:
        return (*self.areas, self.all_areas)


@dataclass
class Records:
    """Decoded records of the four topics the report reads."""
    incidents: list[dict] = field(default_factory=list)
    referrals: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    undecodable: dict[str, int] = field(default_factory=dict)  # topic -> records left out


def _earliest(table: dict[str, datetime], key: str, moment: datetime) -> None:
    if key not in table or moment < table[key]:
        table[key] = moment


ENDINGS = ("contacted", "declined", "unable_to_contact", "recalled", "open")


def _figures(code: str | None, name: str, incidents: int, referrals: list[dict],
             first_contact: dict[str, datetime], first_delivered: dict[str, datetime],
             outcomes: dict[str, tuple[datetime, str]] | None = None) -> AreaFigures:
    counts = Counter(r["pathway"] for r in referrals)
    marac = [r for r in referrals if r["pathway"] == "MARAC"]
    encompass = [r for r in referrals if r["pathway"] == "ENCOMPASS"]
    before_school = [r for r in encompass if r["referral_id"] in first_delivered
                     and first_delivered[r["referral_id"]] <= r["due_at"]]
    outcomes = outcomes or {}
    timings = tuple(Timing(r["referral_id"], r["pathway"], r["reported_at"], r["due_at"],
                           first_contact.get(r["referral_id"]),
                           outcomes.get(r["referral_id"], (None, "open"))[1]) for r in referrals)
    return AreaFigures(code, name, incidents, {p: counts.get(p, 0) for p in PATHWAYS},
                       Share(sum("repeat_marac" in r["reasons"] for r in marac), len(marac)),
                       Share(len(before_school), len(encompass)), timings)


def month_report(records: Records, month: Month, config: HubConfig) -> MonthReport:
    """The board's figures for one month: no Kafka, no clock, no files."""
    referrals: dict[str, dict] = {}
    for record in records.referrals:
        if month.holds(record["reported_at"]):
            referrals.setdefault(record["referral_id"], record)  # at-least-once: once each
    first_contact: dict[str, datetime] = {}
    first_delivered: dict[str, datetime] = {}
    outcomes: dict[str, tuple[datetime, str]] = {}  # referral id -> (when, how it ended)
    for event in records.contacts:
        referral = referrals.get(event["referral_id"])
        if referral is None:
            continue
        if event["type"] == "delivered":
            _earliest(first_delivered, event["referral_id"], event["at"])
        elif is_first_contact_type(referral["pathway"], event["type"]):
            _earliest(first_contact, event["referral_id"], event["at"])
        if is_first_contact_type(referral["pathway"], event["type"]) or event["type"] in CLOSING_OUTCOMES:
            ending = "contacted" if event["type"] not in CLOSING_OUTCOMES else event["type"]
            earlier = outcomes.get(event["referral_id"])
            if earlier is None or event["at"] < earlier[0]:
                outcomes[event["referral_id"]] = (event["at"], ending)
    incidents = {(i["force"], i["incident_id"]): i["local_authority"]
                 for i in records.incidents if month.holds(i["reported_at"])}

    names = {code: area.name for code, area in config.areas.items()}
    seen = set(incidents.values()) | {r["area"] for r in referrals.values()}
    names |= {code: code for code in seen - names.keys()}  # an area no longer configured
    areas = tuple(
        _figures(code, name, sum(a == code for a in incidents.values()),
                 [r for r in referrals.values() if r["area"] == code], first_contact, first_delivered,
                 outcomes)
        for code, name in sorted(names.items(), key=lambda item: item[1]))
    all_areas = _figures(None, "All areas", len(incidents), list(referrals.values()),
                         first_contact, first_delivered, outcomes)

    refused = [d for d in records.dead_letters if month.holds(d["received_at"])]
    by_force = Counter(d["force"] for d in refused if d.get("force"))
    return MonthReport(month, areas, all_areas, len(refused), dict(sorted(by_force.items())),
                       {force_id: force.name for force_id, force in config.forces.items()})


# --- reading the topics -------------------------------------------------------------

# topic -> (schema, the Records field it fills)
TOPICS = {INCIDENTS: ("incident", "incidents"), REFERRALS: ("referral", "referrals"),
          CONTACTS: ("contact-event", "contacts"), INCIDENTS_DLQ: ("dead-letter", "dead_letters")}
# What the report needs of the records holding personal data; the rest is not kept.
KEEP = {INCIDENTS: ("force", "incident_id", "local_authority", "reported_at"),
        INCIDENTS_DLQ: ("received_at", "source", "force")}


def _read_to_end(kafka: KafkaSettings, topic: str, timeout: float, progress: Progress) -> list[bytes]:
    """Every record of the topic up to the high watermark of each partition, as at the start."""
    consumer = replay_consumer(kafka, topic)
    try:
        ends = {}
        for partition in consumer.assignment():
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            if high > low:
                ends[partition.partition] = high
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise KafkaException(f"{topic}: not read to its end within {timeout:.0f}s")
            batch = consumer.consume(500, timeout=0.5)
            for message in batch:
                if message.error():
                    if message.error().fatal():
                        raise KafkaException(message.error())
                    continue
                end = ends.get(message.partition())
                if end is not None and message.offset() < end:
                    values.append(message.value())
                    progress.advance()
                if end is not None and message.offset() + 1 >= end:
                    del ends[message.partition()]
            if not batch:  # a gap at the end (e.g. a transaction marker): go by position
                for position in consumer.position(list(consumer.assignment())):
                    if position.partition in ends and position.offset >= ends[position.partition]:
                        del ends[position.partition]
        return values
    finally:
        consumer.close()


def read_topics(kafka: KafkaSettings, codec: AvroCodec, progress: Progress,
                timeout: float = 120.0) -> Records:
    """The four topics, decoded; a topic that does not exist yet is empty."""
    existing = existing_topics(kafka)
    records = Records()
    for topic, (schema, attribute) in TOPICS.items():
        decoded, bad = [], 0
        for value in (_read_to_end(kafka, topic, timeout, progress) if topic in existing else []):
            try:
                record = codec.decode(schema, value)
            except (UnknownSchema, ValueError, EOFError):
                bad += 1
                continue
            decoded.append({k: record[k] for k in KEEP[topic]} if topic in KEEP else record)
        if bad:
            records.undecodable[topic] = bad
        setattr(records, attribute, decoded)
    progress.finish()
    return records


# --- on screen ----------------------------------------------------------------------

def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(report: MonthReport) -> str:
    month = report.month
    lines = [f"Partnership board figures: {month.title}",
             (f"Incidents and referrals reported in {month.title}, UK time "
              f"(referrals.v1 counted once per referral_id)."), ""]
    header = (f"  {'pathway':<20}{'referrals':>10}{'contacted':>10}{'median h':>10}"
              f"{'90th pct h':>12}  {'within deadline':<16}")
    for area in report.columns:
        title = area.name if area.code is None else f"{area.name} ({area.code})"
        lines += [title, "-" * len(title),
                  (f"  Incidents: {area.incidents}   Referrals: {area.total_referrals}   "
                   f"Repeat MARAC rate: {area.repeat_marac}"),
                  (f"  Children notified through Encompass: {area.referrals['ENCOMPASS']}   "
                   f"notified before school started: {area.encompass_before_school}"), "", header]
        for pathway in PATHWAYS:
            times = area.contact(pathway)
            lines.append(f"  {pathway:<20}{times.referrals:>10}{times.contacted:>10}"
                         f"{_hours(times.median):>10}{_hours(times.p90):>12}  {times.in_time}")
        contacted = sum(t.first_contact is not None for t in area.timings)
        total = f"  {'all pathways':<20}{area.total_referrals:>10}{contacted:>10}{'':>22}"
        lines += [f"{total}  {area.in_time}", "", "  How referrals ended (first outcome):",
                  f"  {'pathway':<20}" + "".join(f"{e:>19}" for e in ENDINGS)]
        for pathway in [*PATHWAYS, None]:
            ended = area.endings(pathway)
            lines.append(f"  {pathway or 'all pathways':<20}" + "".join(f"{ended[e]:>19}" for e in ENDINGS))
        lines.append("")
    forces = ", ".join(f"{report.force_names.get(f, f)} {n}" for f, n in report.refused_by_force.items())
    unknown = report.refused - sum(report.refused_by_force.values())
    if unknown:
        forces += (", " if forces else "") + f"force not known {unknown}"
    lines += [f"Refused notifications received in {month.title} (all areas): {report.refused}"
              + (f" ({forces})" if forces else ""), "", *NOTES]
    return "\n".join(line.rstrip() for line in lines) + "\n"


# --- CSV ----------------------------------------------------------------------------

CSV_COLUMNS = ("month", "area_code", "area", "pathway", "force", "figure", "value")


def format_csv(report: MonthReport) -> str:
    """Long format: one row per area, figure and (where the figure has one) pathway.

    Rows with an empty pathway are the area's totals over all pathways; area_code is empty
    for "All areas". Counts are integers, `*_share` and `*_rate` fractions from 0 to 1,
    `*_hours` hours; an empty value is no data. Refused notifications are one row for all
    areas and one per force (force column set)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    month = str(report.month)

    def share(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    def hours(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    for area in report.columns:
        def row(figure: str, value, pathway: str = "", area: AreaFigures = area) -> None:
            writer.writerow((month, area.code or "", area.name, pathway, "", figure, value))
        row("incidents", area.incidents)
        row("referrals", area.total_referrals)
        row("marac_referrals", area.repeat_marac.of)
        row("repeat_marac_referrals", area.repeat_marac.count)
        row("repeat_marac_rate", share(area.repeat_marac.rate))
        row("encompass_notifications", area.encompass_before_school.of)
        row("encompass_delivered_before_school", area.encompass_before_school.count)
        row("encompass_delivered_before_school_share", share(area.encompass_before_school.rate))
        row("contacted_within_deadline", area.in_time.count)
        row("contacted_within_deadline_share", share(area.in_time.rate))
        for pathway in PATHWAYS:
            times = area.contact(pathway)
            row("referrals", times.referrals, pathway)
            row("contacted", times.contacted, pathway)
            row("time_to_contact_median_hours", hours(times.median), pathway)
            row("time_to_contact_p90_hours", hours(times.p90), pathway)
            row("contacted_within_deadline", times.in_time.count, pathway)
            row("contacted_within_deadline_share", share(times.in_time.rate), pathway)
            for ending, count in area.endings(pathway).items():
                row(f"ended_{ending}", count, pathway)
    writer.writerow((month, "", "All areas", "", "", "refused_notifications", report.refused))
    for force, count in report.refused_by_force.items():
        writer.writerow((month, "", "All areas", "", force, "refused_notifications", count))
    return buffer.getvalue()


# --- the chart ----------------------------------------------------------------------

HOUR_TICKS = {1: "1 h", 3: "3 h", 6: "6 h", 12: "12 h", 24: "1 day", 48: "2 days",
              168: "1 week", 336: "2 weeks", 672: "4 weeks"}
IN_TIME, LATE, DEADLINE, JOIN = "#1b7837", "#c51b7d", "#222222", "#9a9a9a"


def draw_chart(report: MonthReport, path: Path) -> None:
    """One page (A4 landscape), all areas: per pathway, each referral on a line of its own from
    its deadline (a black tick, hours from the report to due_at) to its first contact (a dot,
    green by the deadline, magenta after), on a log scale of hours. A referral never
    contacted runs dashed from its deadline to the edge, and is counted on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    area = report.all_areas
    figure = Figure(figsize=(11.69, 8.27), dpi=150)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 2, width_ratios=(7, 1), wspace=0.03,
                               left=0.2, right=0.97, top=0.86, bottom=0.17)
    main = figure.add_subplot(grid[0])
    never = figure.add_subplot(grid[1], sharey=main)
    rows = list(reversed(PATHWAYS))  # MARAC at the top
    all_hours = [h for t in area.timings for h in (t.contact_hours, t.allowed_hours) if h]
    low = min([1.0, *[h for h in all_hours if h > 0]]) / 1.5
    high = max([72.0, *all_hours]) * 1.5
    labels = []
    for y, pathway in enumerate(rows):
        timings = sorted((t for t in area.timings if t.pathway == pathway),
                         key=lambda t: (t.allowed_hours, t.contact_hours or high))
        times = area.contact(pathway)
        labels.append(f"{pathway}\n{times.in_time.count} of {times.referrals} within deadline"
                      if timings else f"{pathway}\nno referrals")
        if y % 2:
            for axes in (main, never):
                axes.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0)
        step = min(0.12, 0.76 / max(len(timings), 1))
        size = max(3.0, min(8.0, 60 / max(len(timings), 1)))
        for index, timing in enumerate(timings):
            row = y + (index - (len(timings) - 1) / 2) * step
            due = max(timing.allowed_hours, low)
            main.plot([due], [row], "|", markersize=size * 1.6, markeredgewidth=1.6,
                      color=DEADLINE, zorder=3)
            if timing.first_contact is None:
                main.plot([due, high], [row, row], "--", color=LATE, linewidth=1, zorder=2)
                continue
            contact = max(timing.contact_hours, low)
            main.plot([due, contact], [row, row], "-", color=JOIN, linewidth=1, zorder=2)
            main.plot([contact], [row], "o", markersize=size, markeredgecolor="white",
                      color=IN_TIME if timing.in_time else LATE, zorder=4)
        missing = times.referrals - times.contacted
        if missing:
            never.plot([0.4], [y], "X", markersize=10, color=LATE, zorder=3)
            never.text(0.55, y, str(missing), va="center", fontsize=12, color=LATE)
    main.set_xscale("log")
    main.set_xlim(low, high)
    ticks = [h for h in HOUR_TICKS if low <= h <= high]
    main.set_xticks(ticks, [HOUR_TICKS[h] for h in ticks])
    main.minorticks_off()
    main.set_yticks(range(len(rows)), labels)
    main.set_ylim(-0.6, len(rows) - 0.4)
    main.grid(axis="x", color="#d0d0d0", linewidth=0.6, zorder=1)
    main.set_xlabel("hours from the police report (log scale)")
    never.set_xlim(0, 1)
    never.set_xticks([])
    never.tick_params(axis="y", left=False, labelleft=False)
    never.set_title("never\ncontacted", fontsize=10)
    figure.text(0.2, 0.95, f"Time to contact against the deadline, {report.month.title}, all areas",
                fontsize=15, fontweight="bold")
    figure.text(0.2, 0.895, f"{area.total_referrals} referrals from {area.incidents} incidents; "
                f"{area.in_time} contacted within the deadline.\nFirst contact: safe_contact_made "
                "(ENCOMPASS: acknowledged); an attempt is not contact.", fontsize=10.5)
    figure.legend(handles=[
        Line2D([], [], marker="|", linestyle="", color=DEADLINE, markersize=12, markeredgewidth=1.6,
               label="a referral's deadline (due_at)"),
        Line2D([], [], marker="o", linestyle="-", color=JOIN, markerfacecolor=IN_TIME,
               markeredgecolor="white", markersize=8, label="first contact by the deadline"),
        Line2D([], [], marker="o", linestyle="-", color=JOIN, markerfacecolor=LATE,
               markeredgecolor="white", markersize=8, label="first contact after the deadline"),
        Line2D([], [], linestyle="--", color=LATE, label="never contacted")],
        loc="lower left", bbox_to_anchor=(0.2, 0.01), ncol=2, frameon=False, fontsize=10)
    figure.savefig(path, format="png")


# --- the command --------------------------------------------------------------------

def report_command(settings: HubSettings, month_text: str, as_csv: bool = False,
                   chart: Path | None = None, out: TextIO | None = None,
                   err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        month = Month.parse(month_text)
    except ValueError as exc:
        print(f"report: {exc}", file=err)
        return 2
    config = load_config(settings.config_dir)
    records = read_topics(settings.kafka, codec_for(settings),
                          Progress(err, "report", "records read"))
    for topic, count in records.undecodable.items():
        print(f"report: {count} records on {topic} could not be decoded and are left out", file=err)
    report = month_report(records, month, config)
    out.write(format_csv(report) if as_csv else format_table(report))
    if chart:
        draw_chart(report, chart)
        print(f"report: chart written to {chart}", file=err)
    return 0
