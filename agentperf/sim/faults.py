"""Fault injection: which request gets which fault, and the slow-ramp factor (pure, no I/O).

Every decision about a request comes from its own ``random.Random`` seeded with the simulator's
seed and the request id, so a run whose client sends ``X-Request-Id`` headers gets the same
faults on the same requests every time, whatever the arrival order. All draws are made whatever
the rates, so changing one rate never moves another fault to a different request. The server
(:mod:`agentperf.sim.server`) applies the plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import Field

from agentperf.config import StrictModel

HTTP_CODES = (500, 503)


class SimFaults(StrictModel):
    """Fault rates and sizes of one simulator run; all zero (the default) injects nothing."""

    http_5xx_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fraction of requests answered at once with HTTP 500 or 503 (drawn per request).",
    )  # fmt: skip
    stall_before_first_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fraction of requests held back stall_before_first_s before they join the engine queue.",
    )  # fmt: skip
    stall_before_first_s: float = Field(
        0.0, ge=0.0, description="Extra wait before the first token of a stalled request, seconds."
    )
    stall_mid_stream_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fraction of requests whose delivery pauses stall_mid_stream_s after a random token.",
    )  # fmt: skip
    stall_mid_stream_s: float = Field(0.0, ge=0.0, description="Length of a mid-stream pause, seconds.")
    disconnect_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fraction of requests whose connection the server closes after a random number of "
        "tokens, without the final chunk or [DONE].",
    )  # fmt: skip
    slow_ramp_s: float = Field(
        0.0, ge=0.0,
        description="For this many seconds after start every step takes longer: its modelled time is "
        "multiplied by a factor falling linearly from slow_ramp_factor to 1.",
    )  # fmt: skip
    slow_ramp_factor: float = Field(
        3.0, ge=1.0, description="Step-time multiplier at start while slow_ramp_s is set."
    )


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one request. Token positions count delivered tokens (1-based)."""

    http_status: int | None = None
    stall_before_first_s: float = 0.0
    stall_after_token: int | None = None
    stall_mid_stream_s: float = 0.0
    disconnect_after: int | None = None

    @property
    def names(self) -> list[str]:
        """The faults of this plan, in the order they act."""
        out = []
        if self.http_status is not None:
            out.append(f"http_{self.http_status}")
        if self.stall_before_first_s > 0:
            out.append("stall_before_first")
        if self.stall_after_token is not None:
            out.append("stall_mid_stream")
        if self.disconnect_after is not None:
            out.append("disconnect")
        return out

    @property
    def label(self) -> str | None:
        """The log's ``fault`` value: names joined by ``+``, or None for an unfaulted request."""
        return "+".join(self.names) or None


NO_FAULT = FaultPlan()


def plan_faults(faults: SimFaults, seed: int, request_id: str, max_tokens: int) -> FaultPlan:
    """Decide the faults of one request from the run's seed and its id (deterministic)."""
    rng = random.Random(f"{seed}:faults:{request_id}")
    http_draw, code = rng.random(), rng.choice(HTTP_CODES)
    stall_first_draw = rng.random()
    stall_mid_draw, stall_at = rng.random(), rng.randint(1, max(1, max_tokens))
    disconnect_draw, cut_at = rng.random(), rng.randint(0, max(0, max_tokens - 1))
    if http_draw < faults.http_5xx_rate:
        return FaultPlan(http_status=code)
    stall_first = stall_first_draw < faults.stall_before_first_rate and faults.stall_before_first_s > 0
    # A pause after the last token would only delay [DONE]; it needs a token after it.
    stall_mid = stall_mid_draw < faults.stall_mid_stream_rate and faults.stall_mid_stream_s > 0
    stall_mid = stall_mid and max_tokens > 1
    disconnect = disconnect_draw < faults.disconnect_rate
    return FaultPlan(
        stall_before_first_s=faults.stall_before_first_s if stall_first else 0.0,
        stall_after_token=min(stall_at, max_tokens - 1) if stall_mid else None,
        stall_mid_stream_s=faults.stall_mid_stream_s if stall_mid else 0.0,
        disconnect_after=cut_at if disconnect else None,
    )


def ramp_factor(faults: SimFaults, elapsed_s: float) -> float:
    """Step-time multiplier ``elapsed_s`` after start: slow_ramp_factor falling linearly to 1."""
    if faults.slow_ramp_s <= 0 or elapsed_s >= faults.slow_ramp_s:
        return 1.0
    left = 1.0 - max(0.0, elapsed_s) / faults.slow_ramp_s
    return 1.0 + (faults.slow_ramp_factor - 1.0) * left
