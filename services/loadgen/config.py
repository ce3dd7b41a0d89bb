"""Configuration of the loadgen service."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator

from agentperf.config import ServiceConfig
from agentperf.errors import ConfigError
from agentperf.loadgen.profiles import PROFILES
from agentperf.loadgen.prompt import HISTORY_TEXTS, PROMPT_MODES, PromptSettings


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
    prompt_mode: str = Field(
        "words",
        description=(
            "How token counts become text: 'words' (one word per token, the simulator's count), "
            "'tokenizer' (exact under tokenizer_path), 'calibrated' (words per token learnt from usage)."
        ),
    )
    tokenizer_path: str = Field(
        "", description="tokenizer.json (or its folder) for prompt_mode 'tokenizer'; read offline."
    )
    history_text: str = Field(
        "generated",
        description="What the history keeps of each reply: 'generated' (what the server streamed) or "
        "'recorded' (the trajectory's output_text where present).",
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
    workers: int = Field(
        1,
        ge=0,
        description=(
            "Worker processes per level (agent slot s runs in worker s % workers); 1: in the service's "
            "own process; 0: one per CPU core."
        ),
    )
    uvloop: bool = Field(True, description="Run worker processes on uvloop when it is installed.")
    judge_batch_size: int = Field(
        1000, ge=1, description="Records per IngestRecords stream; the judge acknowledges each batch."
    )
    judge_batch_max_s: float = Field(
        5.0, gt=0, description="A batch is sent (acknowledged) after this many seconds even if not full."
    )
    judge_max_backlog: int = Field(
        50_000,
        ge=1,
        description=(
            "Unacknowledged records a worker holds at most; beyond it agents wait after their request "
            "ended (backpressure; the level is then likely invalid)."
        ),
    )
    selfcheck_tick_s: float = Field(
        0.05, gt=0, description="Period of the event-loop lag ticker (also the in-flight sample period)."
    )
    selfcheck_max_lag_p99_s: float = Field(
        0.05,
        gt=0,
        description="A worker whose p99 event-loop lag in the window exceeds this invalidates the level.",
    )
    selfcheck_max_cpu: float = Field(
        0.9,
        gt=0,
        description="A worker whose CPU time / window time exceeds this (1.0 = one core) invalidates the level.",
    )
    selfcheck_min_active: float = Field(
        0.95,
        ge=0,
        le=1,
        description=(
            "A worker whose time-averaged agents in flight fall below this fraction of its agents "
            "invalidates the level."
        ),
    )

    @field_validator("target_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("engine_profile", "prompt_mode", "history_text")
    @classmethod
    def _one_of_the_known(cls, value: str, info: ValidationInfo) -> str:
        known = {"engine_profile": PROFILES, "prompt_mode": PROMPT_MODES, "history_text": HISTORY_TEXTS}
        allowed = known[info.field_name or ""]
        if value not in allowed:
            raise ValueError(f"unknown {info.field_name} {value!r}; expected one of {', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _tokenizer_for_mode(self) -> LoadGenConfig:
        if self.prompt_mode == "tokenizer" and not self.tokenizer_path:
            raise ValueError("prompt_mode 'tokenizer' needs tokenizer_path")
        if self.tokenizer_path and not Path(self.tokenizer_path).exists():
            raise ValueError(f"tokenizer_path {self.tokenizer_path!r} does not exist")
        return self

    def prompt_settings(self) -> PromptSettings:
        """The prompt settings every worker builds its PromptBuilder from."""
        return PromptSettings(self.prompt_mode, self.tokenizer_path, self.history_text)

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
