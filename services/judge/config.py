"""Configuration of the slo-judge service."""

from __future__ import annotations

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig
from agentperf.tiers import TierConfig, check_unique, default_tiers


class JudgeConfig(ServiceConfig):
    """slo-judge settings: storage, HTTP gate API, default tiers, statistics and waiting limits."""

    db_path: str = Field(
        "agentperf-judge.db",
        min_length=1,
        description="SQLite database file (WAL mode) holding record ids, per-shard aggregates, run "
        "states and verdicts; relative paths are taken from the working directory. ':memory:' keeps "
        "everything in the process (tests only: lost on exit).",
    )
    http_host: str | None = Field(
        None, description="Address the HTTP gate API binds to; unset: the same as host."
    )
    http_port: int = Field(
        8080,
        ge=-1,
        le=65535,
        description="HTTP gate API port (verdicts for Argo Rollouts / Flagger, run list); "
        "0 picks a free port, -1 disables the HTTP API.",
    )
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
        description="Fewest tokens after the first chunk for a request to enter the speed sample "
        "(applied when a record is ingested).",
    )
    confidence: float = Field(
        0.9,
        gt=0.5,
        lt=1.0,
        description="One-sided confidence of the bounds on P95 TTFT and P25 speed a verdict needs, "
        "when an Evaluate request gives none (docs/measurement.md).",
    )
    relative_accuracy: float = Field(
        0.01,
        gt=0.0,
        le=0.1,
        description="Relative accuracy of the quantile sketches; fixed for a database once records "
        "are in it (a different value is refused at start).",
    )
    ingest_batch: int = Field(
        500,
        ge=1,
        le=100_000,
        description="Records of an IngestRecords stream committed per SQLite transaction.",
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
