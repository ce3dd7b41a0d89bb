"""Record builders shared by the judge's statistics tests (test_stats.py, test_judge_core.py)."""

from __future__ import annotations

from agentperf.services.judge.core import Record, Status, Tier

SLO1 = Tier("slo1", 30.0, 10.0)
SLO3 = Tier("slo3", 300.0, 3.0)


def ok(i: int, ttft: float = 1.0, speed: float = 100.0, tokens: int = 101, **kw: object) -> Record:
    """An OK request: first chunk carries 1 token, the other ``tokens - 1`` stream at ``speed``."""
    fields: dict[str, object] = {
        "record_id": f"r{i}",
        "run_id": "run",
        "level": 1,
        "status": Status.OK,
        "in_window": True,
        "send_unix_s": 1000.0 + i,
        "has_first_token": True,
        "ttft_s": ttft,
        "first_to_last_s": (tokens - 1) / speed,
        "output_tokens": tokens,
        "first_chunk_tokens": 1,
    }
    fields.update(kw)
    return Record(**fields)  # type: ignore[arg-type]


def failed(i: int, in_window: bool = True, **kw: object) -> Record:
    return Record(f"f{i}", "run", 1, Status.FAILED, in_window, send_unix_s=1000.0 + i, **kw)  # type: ignore[arg-type]


def waiting(i: int, waited_s: float) -> Record:
    """CENSORED without a first token, after waiting ``waited_s``."""
    return Record(f"c{i}", "run", 1, Status.CENSORED, True, send_unix_s=1000.0 + i, waited_s=waited_s)
