"""Engine profiles: which request fields force the output length of a chat completion.

Every profile streams with ``stream_options.include_usage`` (usage in the last chunk). The
field names were checked against each engine's request model; docs/loadgen.md ("Prompts and
engine profiles") cites the file for each row.

| profile          | length fields sent                                     | reasoning deltas streamed as |
|------------------|--------------------------------------------------------|------------------------------|
| ``vllm``         | max_tokens, min_tokens, ignore_eos                     | reasoning (older: reasoning_content) |
| ``sglang``       | max_tokens, min_tokens, ignore_eos                     | reasoning_content            |
| ``trtllm``       | max_tokens, min_tokens, ignore_eos                     | reasoning_content, reasoning |
| ``dynamo``       | max_tokens, min_tokens, ignore_eos (root level)        | reasoning_content            |
| ``openai``       | max_completion_tokens only (strict OpenAI API)         | none in Chat Completions     |
| ``openai-legacy``| max_tokens only                                        | none                         |

The engines with ignore_eos also get min_tokens = max_tokens: min_tokens keeps EOS *and* the
stop token ids (for example those of the model's generation config) from being sampled before
the count is reached, a second guard next to ignore_eos.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentperf.errors import ConfigError

LengthFields = Callable[[int], dict[str, Any]]


def _forced(n: int) -> dict[str, Any]:
    return {"max_tokens": n, "min_tokens": n, "ignore_eos": True}


def _openai(n: int) -> dict[str, Any]:
    return {"max_completion_tokens": n}


def _openai_legacy(n: int) -> dict[str, Any]:
    return {"max_tokens": n}


@dataclass(frozen=True)
class EngineProfile:
    """One row of the table: the length fields and the delta keys reasoning arrives in."""

    name: str
    length: LengthFields
    reasoning_keys: tuple[str, ...]


PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        EngineProfile("vllm", _forced, ("reasoning", "reasoning_content")),
        EngineProfile("sglang", _forced, ("reasoning_content",)),
        EngineProfile("trtllm", _forced, ("reasoning_content", "reasoning")),
        EngineProfile("dynamo", _forced, ("reasoning_content",)),
        EngineProfile("openai", _openai, ()),
        EngineProfile("openai-legacy", _openai_legacy, ()),
    )
}


def profile(name: str) -> EngineProfile:
    """The profile called ``name``; ConfigError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"engine_profile {name!r}: expected one of {sorted(PROFILES)}") from None


def length_fields(name: str) -> LengthFields:
    """The function giving the length-forcing fields of profile ``name`` for an output token count."""
    return profile(name).length


def request_tail(model: str, profile_name: str, output_tokens: int) -> str:
    """The JSON object members after ``messages``, serialised once, without the leading brace."""
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        **length_fields(profile_name)(output_tokens),
    }
    return json.dumps(body, separators=(",", ":"))[1:]
