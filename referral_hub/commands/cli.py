"""The `referral-hub` command: one subcommand per service, plus the offline rules."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from referral_hub.config import ConfigError, load_config
from referral_hub.adapters.logs import configure_logging
from referral_hub.settings import HubSettings

SERVICES = ("ingest", "router", "notify")


def _service(name: str, settings: HubSettings) -> int:
    configure_logging(name, settings.log_level)
    config = load_config(settings.config_dir)
    if name == "ingest":
        from referral_hub.services.ingest.main import run
    elif name == "router":
        from referral_hub.services.router.main import run
    else:
        from referral_hub.services.notify.main import run
    run(settings, config)
    return 0


def _route(args: argparse.Namespace, settings: HubSettings) -> int:
    from referral_hub.commands.route import compare_lines, route_lines
    if args.compare:
        old, new = (load_config(path) for path in args.compare)
        return compare_lines(sys.stdin, sys.stdout, old, new)
    config = load_config(args.config or settings.config_dir)
    return route_lines(sys.stdin, sys.stdout, sys.stderr, config, explain=args.explain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="referral-hub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in SERVICES:
        commands.add_parser(name, help=f"run the {name} service (settings from RH_* variables)")
    route = commands.add_parser("route", help="apply the pathway rules to JSON Lines on stdin")
    route.add_argument("--config", type=Path, help="configuration directory (default: the example)")
    route.add_argument("--explain", action="store_true",
                       help="add to each decision the rule and the facts behind it, in plain words")
    route.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
                       help="print the change in referrals per area and pathway between two "
                            "configuration directories, for capacity planning")
    report = commands.add_parser("report", help="the partnership board's monthly figures per area, "
                                                "read from the topics")
    report.add_argument("--month", required=True, metavar="YYYY-MM",
                        help="incidents reported in this month, UK time, e.g. 2026-10")
    report.add_argument("--csv", action="store_true", help="CSV on stdout instead of the table")
    report.add_argument("--chart", type=Path, metavar="PATH.png",
                        help="also draw time to contact against the deadline as a PNG")
    load_month = commands.add_parser("load-month", help="write a synthetic month (e.g. "
                                     "samples/month-2026-10) onto the topics, as the hub would have")
    load_month.add_argument("directory", type=Path)
    watch = commands.add_parser("watch", help="print a topic's records as JSON lines, from its start")
    watch.add_argument("topic", help="e.g. referrals.v1, recipient.st-helens-marac.v1, contacts.v1")
    for name, text in (("up", "start the local broker and all services until interrupted"),
                       ("demo", "run the hub on the local broker with the sample incidents")):
        commands.add_parser(name, help=text)
    args = parser.parse_args(argv)
    settings = HubSettings()
    try:
        if args.command in SERVICES:
            return _service(args.command, settings)
        configure_logging(args.command, "warning")  # library warnings as JSON on stderr
        if args.command == "route":
            return _route(args, settings)
        if args.command == "report":
            from referral_hub.commands.report import report_command
            return report_command(settings, args.month, args.csv, args.chart)
        if args.command == "load-month":
            from referral_hub.commands.sample_month import load_month
            return load_month(settings, args.directory, sys.stdout, sys.stderr)
        if args.command == "watch":
            from referral_hub.commands.watch import watch
            return watch(settings, args.topic)
        if args.command == "up":
            from referral_hub.commands.stack import up
            return up()
        from referral_hub.commands.demo import demo
        return demo()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 78  # EX_CONFIG


if __name__ == "__main__":
    sys.exit(main())
