"""Configuration of the simulated inference server (``python -m agentperf.sim``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agentperf.config import StrictModel
from agentperf.sim.faults import SimFaults


class SimConfig(StrictModel):
    """Where the simulator listens, which engine profile it models, and what it logs."""

    host: str = Field("127.0.0.1", description="Address the HTTP and DCGM servers bind to.")
    port: int = Field(0, ge=0, le=65535, description="OpenAI-compatible HTTP port; 0 picks a free port.")
    dcgm_port: int = Field(
        0, ge=-1, le=65535, description="Simulated DCGM exporter port; 0 picks a free port, -1 disables it."
    )
    profile: str = Field(
        "tiny",
        description="Bundled profile name (agentperf/sim/profiles/<name>.yaml) or path to a YAML file.",
    )
    profile_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Profile fields to override, e.g. --set profile_overrides.kv_blocks=512.",
    )
    model: str = Field("agentperf-sim", min_length=1, description="Model name served and reported.")
    seed: int = Field(0, description="Seed of the generated text (requests without their own seed).")
    request_log: str | None = Field(
        None, description="JSONL ground-truth log: one line per finished, aborted or rejected request."
    )
    default_max_tokens: int = Field(
        128,
        ge=1,
        description="Tokens generated when a request sets neither max_tokens nor max_completion_tokens.",
    )
    faults: SimFaults = Field(
        default_factory=SimFaults,
        description="Fault injection (HTTP 5xx, stalls, disconnects, slow ramp); seeded from seed.",
    )
    log_level: str = Field("INFO", description="Python logging level name.")
