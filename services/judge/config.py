"""Configuration of the slo-judge service."""

from __future__ import annotations

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig, StrictModel


class TierConfig(StrictModel):
    """One SLO tier: P25 output speed at least ``min_output_speed``, P95 TTFT at most ``max_ttft_s``."""

    name: str = Field(
        ..., min_length=1, description="Tier name as it appears in verdicts (for example slo1)."
    )
    min_output_speed: float = Field(..., gt=0, description="Tokens/s the P25 output speed must reach.")
    max_ttft_s: float = Field(..., gt=0, description="Seconds the P95 time to first token may not exceed.")


def _default_tiers() -> list[TierConfig]:
    # The published AA-AgentPerf tiers (docs/METHOD.md): SLO #1, #2, #3.
    return [
        TierConfig(name="slo1", min_output_speed=30.0, max_ttft_s=10.0),
        TierConfig(name="slo2", min_output_speed=100.0, max_ttft_s=5.0),
        TierConfig(name="slo3", min_output_speed=300.0, max_ttft_s=3.0),
    ]


class JudgeConfig(ServiceConfig):
    """slo-judge settings: default tiers, sample rules and how long Evaluate may wait."""

    tiers: list[TierConfig] = Field(
        default_factory=_default_tiers,
        min_length=1,
        description="Tiers evaluated when an Evaluate request names none; names must be unique.",
    )
    min_samples: int = Field(
        20, ge=1, description="Fewest TTFT samples a tier needs for a verdict; fewer gives INSUFFICIENT."
    )
    min_speed_tokens: int = Field(
        2,
        ge=1,
        description="Fewest tokens after the first chunk for a request to enter the speed sample.",
    )
    default_wait_timeout_s: float = Field(
        30.0, gt=0, description="How long Evaluate waits for expect_records when the request gives 0."
    )
    max_wait_timeout_s: float = Field(
        600.0, gt=0, description="Largest wait_timeout_s an Evaluate request may ask for."
    )

    @field_validator("tiers")
    @classmethod
    def _unique_names(cls, value: list[TierConfig]) -> list[TierConfig]:
        names = [t.name for t in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tier names must be unique; repeated: {', '.join(dupes)}")
        return value
