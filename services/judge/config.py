"""Configuration of the slo-judge service."""

from __future__ import annotations

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig
from agentperf.tiers import TierConfig, check_unique, default_tiers


class JudgeConfig(ServiceConfig):
    """slo-judge settings: default tiers, sample rules and how long Evaluate may wait."""

    tiers: list[TierConfig] = Field(
        default_factory=default_tiers,
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
        return check_unique(value)
