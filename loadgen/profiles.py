"""Engine profiles: which fields force the output length of a chat completion request.

Every profile streams with ``stream_options.include_usage``. The table is small on purpose;
add a row when an engine needs a different spelling.

| profile          | length fields sent                                   |
|------------------|------------------------------------------------------|
| ``vllm``         | max_tokens, min_tokens, ignore_eos (vLLM, SGLang, TensorRT-LLM serve) |
| ``openai``       | max_completion_tokens only (strict OpenAI API)       |
| ``openai-legacy``| max_tokens only (OpenAI-compatible servers that reject unknown fields) |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentperf.errors import ConfigError

LengthFields = Callable[[int], dict[str, Any]]


def _vllm(n: int) -> dict[str, Any]:
    return {"max_tokens": n, "ignore_eos": True, "min_tokens": n}


def _openai(n: int) -> dict[str, Any]:
    return {"max_completion_tokens": n}


def _openai_legacy(n: int) -> dict[str, Any]:
    return {"max_tokens": n}


PROFILES: dict[str, LengthFields] = {"vllm": _vllm, "openai": _openai, "openai-legacy": _openai_legacy}


def length_fields(profile: str) -> LengthFields:
    """The function giving the length-forcing fields of ``profile`` for an output token count."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ConfigError(f"engine_profile {profile!r}: expected one of {sorted(PROFILES)}") from None


def request_tail(model: str, profile: str, output_tokens: int) -> str:
    """The JSON object members after ``messages``, serialised once, without the leading brace."""
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        **length_fields(profile)(output_tokens),
    }
    return json.dumps(body, separators=(",", ":"))[1:]
