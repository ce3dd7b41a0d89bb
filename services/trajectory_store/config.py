"""Configuration of the trajectory-store service."""

from __future__ import annotations

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig, StrictModel

INT32_MAX = 2**31 - 1


class StoreLimits(StrictModel):
    """Size limits every import and synthetic request is held to."""

    max_import_bytes: int = Field(
        512 * 1024 * 1024, ge=1, description="Largest accepted import, in bytes of raw input."
    )
    max_trajectories: int = Field(1_000_000, ge=1, description="Most trajectories one dataset may hold.")
    max_phases: int = Field(256, ge=1, description="Most phases one trajectory may have.")
    max_turns_per_trajectory: int = Field(
        1000, ge=1, description="Most turns one trajectory may have, over all its phases."
    )
    max_tokens_per_turn: int = Field(
        1_000_000,
        ge=1,
        le=INT32_MAX,
        description="Largest input_tokens, output_tokens or preamble_tokens value accepted.",
    )
    max_text_chars: int = Field(
        2_000_000,
        ge=0,
        description="Longest text field (input/output/preamble text, meta value), in characters.",
    )


class TrajectoryStoreConfig(ServiceConfig):
    """trajectory-store settings: where the SQLite file lives, limits, and the streaming batch size."""

    db_path: str = Field(
        "agentperf-trajectories.db",
        description="SQLite database file (WAL mode). Must be a real path: reads and writes use separate connections.",
    )
    limits: StoreLimits = Field(default_factory=StoreLimits, description="Size limits on imported data.")
    tokenizer_path: str | None = Field(
        None,
        description="tokenizer.json (or its folder) used to count tokens of formats that carry only text; "
        "unset: an approximation of 4 characters per token, recorded as the dataset's token_method.",
    )
    stream_batch: int = Field(
        256, ge=1, le=100_000, description="Rows fetched per query while streaming (keyset pagination)."
    )

    @field_validator("db_path")
    @classmethod
    def _real_path(cls, value: str) -> str:
        if not value or value == ":memory:" or value.startswith("file::memory:"):
            raise ValueError("must be a file path: an in-memory database is not shared between connections")
        return value
