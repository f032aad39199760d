"""Log lines carry ids and codes only: other keys, library arguments and error texts are dropped."""
import json
import logging

from referral_hub.adapters.logs import configure_logging, get_logger


def logged(capsys, emit) -> list[dict]:
    configure_logging("test", "info")
    emit()
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_keys_outside_the_allowlist_never_reach_the_line(capsys):
    [line] = logged(capsys, lambda: get_logger().info("incident_accepted", incident_ref="merseyside/1",
                                                      given_name="Anne", postcode="WA10 1AA"))
    assert line["incident_ref"] == "merseyside/1"
    assert line["dropped_keys"] == ["given_name", "postcode"]
    assert "Anne" not in json.dumps(line) and "WA10" not in json.dumps(line)


def test_library_messages_keep_their_template_not_their_arguments(capsys):
    [line] = logged(capsys, lambda: logging.getLogger("faust").warning("bad record %r", {"n": "Anne"}))
    assert line["event"] == "bad record %r" and "Anne" not in json.dumps(line)


def test_an_error_keeps_its_type_and_place_but_not_its_message(capsys):
    def fail():
        try:
            raise ValueError("Anne Example, 1991-03-02")
        except ValueError:
            get_logger().exception("routing_failed")
    [line] = logged(capsys, fail)
    assert line["error_type"] == "ValueError" and line["error_at"].startswith("test_logs.py:")
    assert "Anne" not in json.dumps(line)


def test_lines_from_background_threads_name_their_service(capsys):
    import threading

    def emit():
        thread = threading.Thread(target=lambda: get_logger().info("follower_failed", source="raw topic"))
        thread.start()
        thread.join()
    [line] = logged(capsys, emit)
    assert line["service"] == "test"


def test_a_refusal_logs_only_the_contracts_own_names_of_a_problems_path():
    from referral_hub.services.ingest.intake import loggable_path
    assert loggable_path("children[0].date_of_birth") == "children[0].date_of_birth"
    assert loggable_path("(body)") == "(body)"
    # names the sender made up may hold anything: a name, a phone number, a forged log line
    assert loggable_path('victim.Jane Example 07700900123') == "victim.?"
    assert loggable_path('risk.x"}\n{"level": "error"[2]') == "risk.?[2]"
