"""SLO tiers as configuration: the one model the judge and the run conductor both use.

Tiers are data, so another model's tiers need no code. The defaults are the published
AA-AgentPerf tiers for the launch model (see docs/measurement.md).
"""

from __future__ import annotations

from pydantic import Field

from agentperf.config import StrictModel


class TierConfig(StrictModel):
    """One SLO tier: P25 output speed at least ``min_output_speed``, P95 TTFT at most ``max_ttft_s``."""

    name: str = Field(
        ..., min_length=1, description="Tier name as it appears in verdicts (for example slo1)."
    )
    min_output_speed: float = Field(..., gt=0, description="Tokens/s the P25 output speed must reach.")
    max_ttft_s: float = Field(..., gt=0, description="Seconds the P95 time to first token may not exceed.")


def default_tiers() -> list[TierConfig]:
    """SLO #1, #2, #3 of the public method: 30 / 100 / 300 tokens/s with 10 / 5 / 3 s TTFT."""
    return [
        TierConfig(name="slo1", min_output_speed=30.0, max_ttft_s=10.0),
        TierConfig(name="slo2", min_output_speed=100.0, max_ttft_s=5.0),
        TierConfig(name="slo3", min_output_speed=300.0, max_ttft_s=3.0),
    ]


def check_unique(tiers: list[TierConfig]) -> list[TierConfig]:
    """Validator body: tier names identify verdicts, so they must be unique."""
    names = [t.name for t in tiers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"tier names must be unique; repeated: {', '.join(dupes)}")
    return tiers
