"""Shared samples for toolsim tests: real recorded tool durations from the OpenHands file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

OPENHANDS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "trajectories" / "openhands" / "output.jsonl"
)


def openhands_durations() -> dict[str, list[float]]:
    """Seconds from each action event to the observation it caused, by OpenHands action kind.

    Read straight from the file (independent of the store's importer): the ``run`` action is
    a shell command, ``read`` and ``edit`` file operations.
    """
    out: dict[str, list[float]] = {}
    for line in OPENHANDS.read_text(encoding="utf-8").splitlines():
        events = json.loads(line)["history"]
        by_id = {event["id"]: event for event in events}
        for event in events:
            action = by_id.get(event.get("cause", -1), {})
            if "observation" in event and "action" in action:
                seconds = datetime.fromisoformat(event["timestamp"]) - datetime.fromisoformat(
                    action["timestamp"]
                )
                out.setdefault(action["action"], []).append(seconds.total_seconds())
    return out


@pytest.fixture(scope="session")
def openhands_shell() -> list[float]:
    return openhands_durations()["run"]
