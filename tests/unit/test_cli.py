"""The `referral-hub` command helps its user: a version, help that says what each command
does and what it reads, and one clear line instead of a traceback for a user's mistake."""
import os
import subprocess
import sys

import pytest

from referral_hub.commands.cli import COMMANDS, KAFKA_COMMANDS, main, parser, settings_for

# Nothing listens here: RH_TEST_PORT_BASE keeps it clear of other checkouts' brokers.
NO_BROKER = f"127.0.0.1:{int(os.environ.get('RH_TEST_PORT_BASE', '18000')) + 1999}"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "referral_hub.commands.cli", *args],
                          capture_output=True, text=True, timeout=60, env=os.environ | (env or {}))


def help_of(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == "referral-hub 0.1.0\n"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("up", "demo")])
def test_each_command_says_which_settings_it_reads(capsys, command):
    text = help_of(capsys, command)
    assert "Settings read (environment):" in text
    assert "RH_SCHEMA_DIR" in text or command == "route"
    assert ("RH_KAFKA_BOOTSTRAP_SERVERS" in text) == (command != "route")


@pytest.mark.parametrize("command", KAFKA_COMMANDS)
def test_the_commands_that_talk_to_kafka_take_bootstrap_servers(capsys, command):
    assert "--bootstrap-servers HOST:PORT" in help_of(capsys, command)
    needed = {"report": ["--month", "2026-10"], "load-month": ["dir"], "watch": ["referrals.v1"]}
    args = parser().parse_args([command, "--bootstrap-servers", "kafka.example.org:9093", *needed[command]])
    assert settings_for(args).kafka.bootstrap_servers == "kafka.example.org:9093"


def test_without_the_option_the_environment_decides(monkeypatch):
    monkeypatch.setenv("RH_KAFKA_BOOTSTRAP_SERVERS", "from-environment.example.org:9092")
    args = parser().parse_args(["watch", "referrals.v1"])
    assert settings_for(args).kafka.bootstrap_servers == "from-environment.example.org:9092"


def test_watch_says_it_follows_until_ctrl_c_and_takes_max(capsys):
    text = help_of(capsys, "watch")
    assert "until Ctrl-C" in text and "--max N" in text
    assert parser().parse_args(["watch", "contacts.v1", "--max", "3"]).max == 3


def test_a_max_that_is_not_a_count_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["watch", "contacts.v1", "--max", "0"])
    assert exited.value.code == 2
    assert "'0' is not a whole number of records, 1 or more" in capsys.readouterr().err


def test_an_unreachable_broker_is_one_line():
    result = run("watch", "referrals.v1", "--bootstrap-servers", NO_BROKER)
    assert result.returncode == 69
    assert result.stderr == f"watch: no Kafka broker answered at {NO_BROKER} within 5 s\n"
    assert result.stdout == ""


def test_a_report_without_a_broker_is_one_line():
    result = run("report", "--month", "2026-10", "--bootstrap-servers", NO_BROKER)
    assert (result.returncode, result.stderr) == (
        69, f"report: no Kafka broker answered at {NO_BROKER} within 5 s\n")


def test_a_setting_that_is_not_valid_is_named_without_a_traceback():
    result = run("route", env={"RH_INGEST_PORT": "eighty"})
    assert result.returncode == 78
    assert result.stderr.startswith("setting ingest_port: Input should be a valid integer")
    assert "Traceback" not in result.stderr
