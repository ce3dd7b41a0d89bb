"""Configuration of the toolsim service."""

from __future__ import annotations

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig, StrictModel
from agentperf.trajectory import TOOL_CLASSES


class DelayModel(StrictModel):
    """A lognormal delay distribution, stated by its median and the sigma of its logarithm."""

    median_s: float = Field(1.0, gt=0, description="Median delay in seconds (exp(mu) of the lognormal).")
    sigma: float = Field(
        0.8, ge=0, le=10, description="Standard deviation of log(delay); 0 gives the median."
    )


class ToolSimConfig(ServiceConfig):
    """toolsim settings: the delay model, its seed, the cap, time scaling and the concurrency limit."""

    seed: int = Field(0, description="Seed that, with each request's key, fixes the delay drawn for a call.")
    median_s: float = Field(1.0, gt=0, description="Median of the default lognormal delay, in seconds.")
    sigma: float = Field(0.8, ge=0, le=10, description="Sigma of log(delay) of the default lognormal model.")
    classes: dict[str, DelayModel] = Field(
        default_factory=dict,
        description=f"Per tool-class overrides of the delay model; keys from {', '.join(TOOL_CLASSES)}.",
    )
    use_recorded: bool = Field(
        False, description="Use the call's recorded_duration_s when it is > 0 instead of drawing a delay."
    )
    max_delay_s: float = Field(300.0, gt=0, description="Cap on any delay (drawn or recorded), in seconds.")
    time_scale: float = Field(
        1.0,
        gt=0,
        description="Multiplies every delay before waiting (for fast tests); reports must state it when not 1.",
    )
    max_concurrent: int = Field(
        0,
        ge=0,
        description="Calls waited at once (a shared CPU pool); excess calls queue. 0 means unlimited.",
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict[str, DelayModel]) -> dict[str, DelayModel]:
        unknown = sorted(set(value) - set(TOOL_CLASSES))
        if unknown:
            raise ValueError(f"unknown tool classes {unknown}; allowed: {', '.join(TOOL_CLASSES)}")
        return value
