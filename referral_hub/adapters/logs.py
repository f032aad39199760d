"""Structured JSON logs that cannot carry personal data by accident.

Only the keys in SAFE_KEYS reach a log line; anything else a caller passes is
dropped and its key name reported, so a careless `log.info(..., victim=...)`
shows up in review as `dropped_keys` instead of leaking a name. Event names are
fixed strings, never formatted with values.
"""
from __future__ import annotations

import logging
import sys
import traceback

import structlog

SAFE_KEYS = frozenset({
    "event", "level", "timestamp", "service", "logger",
    "incident_ref", "referral_id", "referral_ids", "event_id", "pathway", "pathways", "area",
    "recipient", "topic", "partition", "offset", "source", "status", "count", "problems",
    "paths", "reason", "error_type", "error_at", "dropped_keys", "host", "port", "config_version", "seconds", "duplicate",
    "channel", "attempts", "retry_at",
    "problem",  # webhook failures: a fixed phrase (services/notify/webhook.py Attempt.problem)
    "version", "action", "actions",  # an incident's version; refer, amend or recall
    "data_problems",  # field labels only (validation.field_label), never a value
})


def _drop_unsafe_keys(_logger, _method, event_dict: dict) -> dict:
    unsafe = sorted(key for key in event_dict if key not in SAFE_KEYS)
    for key in unsafe:
        del event_dict[key]
    if unsafe:
        event_dict["dropped_keys"] = unsafe
    return event_dict


# librdkafka's messages are broker diagnostics; it never sees a record's contents in clear.
FORMATTED_LOGGERS = frozenset({"librdkafka"})


def _unformatted_library_message(_logger, _method, event_dict: dict) -> dict:
    """A library's log message keeps its template, not its arguments (they may be a record)."""
    record = event_dict.pop("_record", None)
    if event_dict.pop("positional_args", None) and record.name not in FORMATTED_LOGGERS:
        event_dict["event"] = record.msg if isinstance(record.msg, str) else "library event"
    event_dict.pop("_from_structlog", None)
    return event_dict


def _exception_without_message(_logger, _method, event_dict: dict) -> dict:
    """Keep where an error happened and its type; its message or traceback may quote data."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        error = exc_info[1]
        if error is not None:
            frame = traceback.extract_tb(error.__traceback__)[-1:] or None
            event_dict["error_type"] = type(error).__name__
            if frame:
                event_dict["error_at"] = f"{frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}"
    return event_dict


def configure_logging(service: str, level: str = "info") -> None:
    """JSON lines on stderr for our events and for the libraries' (faust, uvicorn, kafka)."""
    def add_service(_logger, _method, event_dict: dict) -> dict:
        event_dict.setdefault("service", service)  # from every thread, unlike contextvars
        return event_dict

    shared = [add_service, structlog.processors.add_log_level,
              structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*shared, _exception_without_message,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           _exception_without_message],
        pass_foreign_args=True,
        processors=[_unformatted_library_message, _drop_unsafe_keys,
                    structlog.processors.JSONRenderer()])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter below WARNING is noise to an on-call engineer.
    for noisy in ("faust", "mode", "aiokafka", "uvicorn", "kafka", "librdkafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger() -> structlog.stdlib.BoundLogger:
    return structlog.get_logger()
