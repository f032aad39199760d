"""The `referral-hub` command: one subcommand per service, plus the offline rules and the
tools that read and write the topics. Settings come from RH_* environment variables."""
from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

from confluent_kafka import KafkaException
from pydantic import ValidationError

from referral_hub.adapters.kafka import KafkaUnavailable
from referral_hub.adapters.logs import configure_logging
from referral_hub.config import ConfigError, load_config
from referral_hub.settings import HubSettings, KafkaSettings

SERVICES = ("ingest", "router", "notify")
KAFKA_COMMANDS = ("watch", "report", "load-month")  # talk to Kafka: --bootstrap-servers
EX_UNAVAILABLE, EX_CONFIG = 69, 78  # sysexits.h

KAFKA_SETTINGS = ("RH_KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092), RH_KAFKA_SECURITY_PROTOCOL, "
                  "RH_KAFKA_SASL_MECHANISM, RH_KAFKA_SASL_USERNAME, RH_KAFKA_SASL_PASSWORD, "
                  "RH_KAFKA_SSL_CAFILE")
NEW_TOPICS = "RH_KAFKA_TOPIC_PARTITIONS, RH_KAFKA_TOPIC_REPLICATION_FACTOR (topics it creates)"
CONFIG = "RH_CONFIG_DIR (default: the example configuration shipped with the package)"
SCHEMAS = "RH_SCHEMA_DIR (default: the Avro schemas shipped with the package)"
STATE = "RH_STATE_STORE, RH_STATE_DIR"
COMMON = "RH_CLOCK_FILE (tests and the demo only), RH_LOG_LEVEL"

# name -> (one-line help, what it does, the RH_ settings it reads)
COMMANDS = {
    "ingest": ("run the ingest service: the HTTP API the police systems and recipients call",
               "Takes incident notifications (POST /v1/incidents) and recipients' contact events, "
               "and serves the Encompass acknowledgement page. JSON logs on stderr.",
               [CONFIG, SCHEMAS, "RH_INGEST_HOST, RH_INGEST_PORT",
                "RH_INGEST_METRICS_HOST, RH_INGEST_METRICS_PORT (its /metrics)", "RH_MAX_BODY_BYTES",
                "RH_ACK_SECRET, RH_PUBLIC_BASE_URL", STATE, COMMON, KAFKA_SETTINGS, NEW_TOPICS]),
    "router": ("run the router service: the pathway rules over the incident stream",
               "Decides each incident's referrals, tracks their deadlines and reports the overdue. "
               "JSON logs on stderr.",
               [CONFIG, SCHEMAS, "RH_ROUTER_HOST, RH_ROUTER_PORT", "RH_OVERDUE_CHECK_SECONDS, RH_HISTORY_CHECK_SECONDS", STATE,
                COMMON, KAFKA_SETTINGS, NEW_TOPICS]),
    "notify": ("run the notify service: delivers referrals to recipients",
               "Delivers each referral by its recipient's channel (Kafka topic, signed webhook, "
               "email) and tells escalation contacts of overdue referrals. JSON logs on stderr.",
               [CONFIG, SCHEMAS, "RH_NOTIFY_HOST, RH_NOTIFY_PORT", "RH_WEBHOOK_CHECK_SECONDS",
                "RH_ACK_SECRET, RH_PUBLIC_BASE_URL", "RH_SMTP_* (the mail server)",
                "the webhook secret variables the configuration names (secret_env)", STATE, COMMON,
                KAFKA_SETTINGS, NEW_TOPICS]),
    "route": ("apply the pathway rules to JSON Lines on stdin, offline",
              "Reads incident notifications, one JSON object a line, on stdin and prints each "
              "referral the rules make as a JSON line on stdout; refused lines go to stderr "
              "(exit status 2). No Kafka, no history beyond the lines given.",
              [f"{CONFIG}, unless --config"]),
    "report": ("the partnership board's monthly figures per area, read from the topics",
               "Reads incidents, referrals, contact events and dead letters from their beginning "
               "(progress on stderr) and prints each area's figures for the month.",
               [CONFIG, SCHEMAS, KAFKA_SETTINGS]),
    "load-month": ("write a synthetic month (e.g. samples/month-2026-10) onto the topics",
                   "Writes what the hub would have written for the month's incidents, so "
                   "`report` has something to show (progress on stderr).",
                   [CONFIG, SCHEMAS, KAFKA_SETTINGS, NEW_TOPICS]),
    "watch": ("print a topic's records as JSON lines, from its start, until Ctrl-C",
              "Prints each record of the topic as one JSON line on stdout, from the topic's start, "
              "then follows it until Ctrl-C (or --max records). Incident and dead-letter topics "
              "hold personal data.",
              [SCHEMAS, KAFKA_SETTINGS]),
    "up": ("start the local broker and all services until Ctrl-C (a checkout only)",
           "Starts the project's own Kafka broker on 127.0.0.1:9092 and the three services on "
           "ports 8080-8082, their logs on this terminal, until Ctrl-C. Needs a checkout of "
           "the repository (deploy/kafka/broker.sh).", []),
    "demo": ("run the hub on the local broker with the sample incidents (a checkout only)",
             "Starts an empty local broker and the services (ports 8080-8082, 8090, 9092-9093), "
             "posts samples/incidents.jsonl, prints the referrals and the overdue ones, and exits "
             "0 if the hub did what the rules call for. Logs in .run/demo-logs/.", []),
}


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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of records, 1 or more")
    return int(text)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="referral-hub", description=__doc__)
    top.add_argument("--version", action="version", version=f"%(prog)s {version('referral-hub')}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub = {}
    for name, (summary, description, settings) in COMMANDS.items():
        epilog = "Settings read (environment):\n" + "\n".join(
            textwrap.fill(s, 79, initial_indent="  ", subsequent_indent="    ") for s in settings) \
            if settings else None
        sub[name] = commands.add_parser(name, help=summary, description=textwrap.fill(description, 79),
                                        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in KAFKA_COMMANDS:
        sub[name].add_argument("--bootstrap-servers", metavar="HOST:PORT[,...]",
                               help="the Kafka brokers (instead of RH_KAFKA_BOOTSTRAP_SERVERS)")
    route = sub["route"]
    route.add_argument("--config", type=Path, help="configuration directory (default: RH_CONFIG_DIR)")
    route.add_argument("--explain", action="store_true",
                       help="add to each decision the rule and the facts behind it, in plain words")
    route.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
                       help="print the change in referrals per area and pathway between two "
                            "configuration directories, for capacity planning")
    report = sub["report"]
    report.add_argument("--month", required=True, metavar="YYYY-MM",
                        help="incidents reported in this month, UK time, e.g. 2026-10")
    report.add_argument("--csv", action="store_true", help="CSV on stdout instead of the table")
    report.add_argument("--chart", type=Path, metavar="PATH.png",
                        help="also draw time to contact against the deadline as a PNG")
    sub["load-month"].add_argument("directory", type=Path,
                                   help="incidents.jsonl, contacts.csv, refused.jsonl (see its README)")
    watch = sub["watch"]
    watch.add_argument("topic", help="e.g. referrals.v1, recipient.st-helens-marac.v1, contacts.v1")
    watch.add_argument("--max", type=_positive, metavar="N", help="stop after N records")
    return top


def settings_for(args: argparse.Namespace) -> HubSettings:
    servers = getattr(args, "bootstrap_servers", None)
    return HubSettings(kafka=KafkaSettings(bootstrap_servers=servers)) if servers else HubSettings()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings_for(args)
    except ValidationError as exc:
        for error in exc.errors():
            print(f"setting {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return EX_CONFIG
    try:
        if args.command in SERVICES:
            return _service(args.command, settings)
        configure_logging(args.command, "warning")  # library warnings as JSON on stderr
        # The commands say in one line what is wrong with the broker; its client's own
        # connection diagnostics would repeat it many times over.
        logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
        return _command(args, settings)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return EX_CONFIG
    except KafkaUnavailable as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except KafkaException as exc:  # the client's error, without its repr's decoration
        error = exc.args[0] if exc.args else exc
        print(f"{args.command}: Kafka: {error.str() if hasattr(error, 'str') else error}", file=sys.stderr)
        return EX_UNAVAILABLE
    except BrokenPipeError:  # e.g. `referral-hub route < incidents.jsonl | head`
        sys.stderr.close()
        return 0


def _command(args: argparse.Namespace, settings: HubSettings) -> int:
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
        return watch(settings, args.topic, args.max)
    from referral_hub.commands.stack import BROKER_SCRIPT
    if not BROKER_SCRIPT.exists():
        print(f"{args.command}: needs a checkout of the repository (its deploy/kafka/broker.sh)",
              file=sys.stderr)
        return 2
    if args.command == "up":
        from referral_hub.commands.stack import up
        return up()
    from referral_hub.commands.demo import demo
    return demo()


if __name__ == "__main__":
    sys.exit(main())
