"""`referral-hub route`: the router's rules and state, in process, on JSON Lines.

Each line is one notification, routed in the order given with the history the earlier
lines built, exactly as the streaming router would. Refused lines are reported as
`line N: <field path>: <problem>` on stderr and make the exit status 2.
"""
from __future__ import annotations

import json
from typing import TextIO

from .config import HubConfig
from .rules import History, decide
from .validation import Refused, parse_incident


def route_lines(lines: TextIO, out: TextIO, err: TextIO, config: HubConfig) -> int:
    histories: dict[str, History] = {}
    status = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            incident = parse_incident(line, config)
        except Refused as refused:
            for problem in refused.problems:
                print(f"line {number}: {problem}", file=err)
            status = 2
            continue
        history = histories.get(incident.key, History())
        decisions = decide(incident, history, config)
        histories[incident.key] = history.after(incident, decisions)
        for decision in decisions:
            out.write(json.dumps(decision.as_route_output()) + "\n")
    return status
