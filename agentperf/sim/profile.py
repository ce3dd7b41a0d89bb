"""Engine profiles: the numbers behind the simulator's latency and power, kept in YAML data files.

A profile is either the name of a bundled file (``agentperf/sim/profiles/<name>.yaml``) or a
path. Files are validated by the strict :class:`SimProfile` (unknown keys rejected; errors name
the file), then ``profile_overrides`` from the server config are applied and validated again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from agentperf.config import StrictModel, load_config
from agentperf.errors import ConfigError

PROFILE_DIR = Path(__file__).with_name("profiles")


class SpeculativeConfig(StrictModel):
    """Speculative decoding: each decode step drafts ``tokens_per_step`` tokens per sequence.

    Draft i (1..k) is accepted with probability ``acceptance_rate`` if draft i-1 was, so a step
    emits 1 + accepted tokens, on average ``1 + sum(p**i for i in 1..k)``. Every drafted token
    costs ``per_draft_token_s`` whether accepted or not (drafting plus verifying it).
    """

    tokens_per_step: int = Field(
        ..., ge=1, le=16, description="Draft tokens proposed per sequence per step (k)."
    )
    acceptance_rate: float = Field(
        ..., ge=0, le=1, description="Probability that a draft token is accepted, given the previous one was."
    )
    per_draft_token_s: float = Field(
        0.0, ge=0, description="Added step cost per drafted token of each decoding sequence, in s."
    )
    seed: int = Field(0, description="Seed of the acceptance draws when the engine is given no RNG.")

    @property
    def mean_tokens_per_step(self) -> float:
        """Expected tokens a decoding sequence emits per step: 1 + sum of p**i, i = 1..k."""
        return 1.0 + sum(self.acceptance_rate**i for i in range(1, self.tokens_per_step + 1))


class SimProfile(StrictModel):
    """One simulated deployment: GPUs, KV cache, scheduler limits, step-time and power model."""

    description: str = Field("", description="What the profile stands for and where its numbers come from.")
    gpus: int = Field(
        1, ge=1, le=1024, description="Simulated GPUs serving the model (one DCGM series each)."
    )
    idle_w: float = Field(60.0, ge=0, description="Power of one GPU when no step runs, in W.")
    max_w: float = Field(300.0, gt=0, description="Power of one GPU running a full batch, in W.")
    busy_floor: float = Field(
        0.4, ge=0, le=1, description="Utilisation of a busy GPU whose batch is nearly empty (0..1)."
    )
    power_window_s: float = Field(
        1.0, gt=0, description="Interval the power and utilisation gauges average over, in s."
    )
    block_size: int = Field(16, ge=1, description="Tokens per KV-cache block.")
    kv_blocks: int = Field(4096, ge=1, description="KV-cache capacity in blocks (shared by all sequences).")
    max_num_seqs: int = Field(64, ge=1, description="Most sequences running at once.")
    prefill_chunk_tokens: int = Field(
        512, ge=1, description="Prompt tokens prefilled per step at most (chunked-prefill budget)."
    )
    output_reserve_tokens: int = Field(
        16,
        ge=0,
        description="Free KV space, in tokens, a request needs beyond its uncached prompt to be admitted.",
    )
    max_model_len: int = Field(
        32768, ge=1, description="Longest prompt plus max tokens accepted; longer requests get HTTP 400."
    )
    step_overhead_s: float = Field(0.0015, ge=0, description="Fixed cost of one engine step, in s.")
    decode_per_seq_s: float = Field(0.0005, ge=0, description="Cost per sequence decoding in a step, in s.")
    prefill_per_token_s: float = Field(
        4e-6, ge=0, description="Cost per prompt token prefilled in a step, in s."
    )
    attention_per_kv_token_s: float = Field(
        1e-7, ge=0, description="Cost per KV-cache token of the sequences in the step, in s."
    )
    speculative: SpeculativeConfig | None = Field(
        None, description="Speculative decoding (several tokens per decode step); none when absent."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SimProfile:
        if self.max_w < self.idle_w:
            raise ValueError(f"max_w ({self.max_w}) is below idle_w ({self.idle_w})")
        needed = -(-self.max_model_len // self.block_size) - (-self.output_reserve_tokens // self.block_size)
        if self.kv_blocks < needed:
            # Otherwise a request we accepted could never be admitted, even into an empty cache.
            raise ValueError(
                f"kv_blocks ({self.kv_blocks}) must hold max_model_len plus output_reserve_tokens "
                f"({needed} blocks of {self.block_size} tokens)"
            )
        return self


def profile_path(ref: str) -> Path:
    """The file a profile reference names: a bundled profile's name, or a path."""
    if "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml")):
        path = PROFILE_DIR / f"{ref}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.yaml")))
            raise ConfigError(f"profile {ref!r}: no bundled profile of that name (bundled: {known})")
        return path
    return Path(ref)


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(ref: str, overrides: Mapping[str, Any] | None = None) -> SimProfile:
    """Load and validate a profile, then apply ``overrides`` (field -> value)."""
    path = profile_path(ref)
    # env={}: the server's own AGENTPERF_* variables are not profile fields.
    profile = load_config(SimProfile, path, env={})
    if not overrides:
        return profile
    try:
        return SimProfile.model_validate({**profile.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path} with profile_overrides: {problems}") from exc
