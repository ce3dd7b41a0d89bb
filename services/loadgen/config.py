"""Configuration of the loadgen service."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from agentperf.config import ServiceConfig
from agentperf.errors import ConfigError
from agentperf.loadgen.profiles import PROFILES


class LoadGenConfig(ServiceConfig):
    """loadgen settings: the inference target, the peer services, timeouts and pacing."""

    target_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL of the OpenAI-compatible server; requests go to {target_url}/v1/chat/completions.",
    )
    model: str = Field("agentperf-sim", description="Value of the 'model' field of every chat request.")
    engine_profile: str = Field(
        "vllm",
        description=f"How the output length is forced: one of {', '.join(PROFILES)} (see docs/loadgen.md).",
    )
    api_key_file: str = Field(
        "", description="File whose stripped content is sent as 'Authorization: Bearer'; empty: none."
    )
    api_key_env: str = Field(
        "",
        description="Name of an environment variable holding the API key (used when api_key_file is empty).",
    )
    trajectory_store: str = Field("127.0.0.1:50051", description="host:port of the trajectory store (gRPC).")
    toolsim: str = Field("127.0.0.1:50052", description="host:port of toolsim (gRPC).")
    judge: str = Field("127.0.0.1:50053", description="host:port of the SLO judge (gRPC).")
    connect_timeout_s: float = Field(
        10.0, gt=0, description="TCP connect limit per request (connect_timeout)."
    )
    first_token_timeout_s: float = Field(
        120.0, gt=0, description="Send to first token limit, connect included (first_token_timeout)."
    )
    idle_timeout_s: float = Field(
        60.0, gt=0, description="Longest gap between tokens once streaming started (idle_timeout)."
    )
    stagger_s: float = Field(
        0.0, ge=0, description="Agents start spread evenly over this many seconds (0: all at once)."
    )
    seed: int = Field(0, description="Seed of the filler text when the RunLevel request gives seed 0.")
    progress_interval_s: float = Field(1.0, gt=0, description="Seconds between PROGRESS events.")
    judge_retries: int = Field(
        5, ge=0, description="Times a broken judge stream is re-opened (re-sending unacknowledged records)."
    )
    judge_backoff_s: float = Field(
        0.25, gt=0, description="First pause before re-opening the judge stream; doubles each time (max 4 s)."
    )
    tool_fallback_s: float = Field(
        1.0,
        ge=0,
        description="Tool gap slept locally when toolsim fails and the call has no recorded duration.",
    )

    @field_validator("target_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("engine_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown engine profile; expected one of {', '.join(PROFILES)}")
        return value

    @model_validator(mode="after")
    def _key_source_exists(self) -> LoadGenConfig:
        if self.api_key_file and not Path(self.api_key_file).is_file():
            raise ValueError(f"api_key_file {self.api_key_file!r} is not a readable file")
        return self

    def api_key(self) -> str:
        """The API key from api_key_file or api_key_env; never logged."""
        if self.api_key_file:
            try:
                return Path(self.api_key_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"api_key_file {self.api_key_file!r}: {exc.strerror}") from exc
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value is None:
                raise ConfigError(f"api_key_env {self.api_key_env!r} is not set")
            return value.strip()
        return ""
