"""The OpenAI chat-completions surface: request validation and response shapes (no I/O).

Validation raises :class:`agentperf.errors.InputError` naming the offending field; the server
turns it into HTTP 400 with an OpenAI-style error body (:func:`error_body`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentperf.errors import InputError
from agentperf.sim.tokens import PRIMING_IDS

SOURCE = "request body"
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat-completions request the simulator acts on."""

    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int
    seed: int | None


def _fail(message: str, field: str) -> InputError:
    return InputError(message, source=SOURCE, field=field)


def _optional(body: Mapping[str, Any], key: str, types: tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    # bool is an int subclass; a JSON true is never a valid count or number here.
    if value is not None and (
        not isinstance(value, types) or (bool not in types and isinstance(value, bool))
    ):
        raise _fail(f"must be {what}, got {type(value).__name__}", key)
    return value


def _int_at_least(body: Mapping[str, Any], key: str, low: int) -> int | None:
    value: int | None = _optional(body, key, (int,), "an integer")
    if value is not None and value < low:
        raise _fail(f"must be at least {low}, got {value}", key)
    return value


def _check_content(content: Any, field: str, role: str) -> None:
    if content is None:
        if role != "assistant":
            raise _fail("is required for this role", field)
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"must be a string or a list of text parts, got {type(content).__name__}", field)
    for j, part in enumerate(content):
        where = f"{field}[{j}]"
        if not isinstance(part, dict):
            raise _fail(f"must be an object, got {type(part).__name__}", where)
        if part.get("type") != "text":
            raise _fail(f"unsupported content part type {part.get('type')!r} (only 'text')", f"{where}.type")
        if not isinstance(part.get("text"), str):
            raise _fail("must be a string", f"{where}.text")


def _check_messages(value: Any) -> list[dict[str, Any]]:
    if value is None:
        raise _fail("is required", "messages")
    if not isinstance(value, list):
        raise _fail(f"must be a list, got {type(value).__name__}", "messages")
    if not value:
        raise _fail("must not be empty", "messages")
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _fail(f"must be an object, got {type(message).__name__}", where)
        role = message.get("role")
        if not isinstance(role, str):
            raise _fail("is required and must be a string", f"{where}.role")
        if role not in ROLES:
            raise _fail(f"unknown role {role!r}", f"{where}.role")
        _check_content(message.get("content"), f"{where}.content", role)
    return value


def _check_sampling(body: Mapping[str, Any]) -> None:
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _optional(body, key, (int, float), "a number")
    _optional(body, "ignore_eos", (bool,), "a boolean")
    _optional(body, "model", (str,), "a string")
    _optional(body, "user", (str,), "a string")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _fail("must be a string or a list of strings", "stop")
    n = _int_at_least(body, "n", 1)
    if n is not None and n != 1:
        raise _fail("only n=1 is supported", "n")


@dataclass(frozen=True)
class CompletionRequest:
    """The parts of a legacy completions request the simulator acts on."""

    prompt: str
    stream: bool
    include_usage: bool
    max_tokens: int
    seed: int | None


def _load(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}", source=SOURCE) from exc
    if not isinstance(body, dict):
        raise InputError(f"must be a JSON object, got {type(body).__name__}", source=SOURCE)
    return body


def _generation(body: Mapping[str, Any], default_max_tokens: int) -> tuple[bool, bool, int, int | None]:
    """stream, include_usage, max_tokens and seed, validated the same way for both endpoints."""
    _check_sampling(body)
    stream = bool(_optional(body, "stream", (bool,), "a boolean"))
    options = _optional(body, "stream_options", (dict,), "an object") or {}
    include_usage = _optional(options, "include_usage", (bool,), "a boolean")
    _int_at_least(body, "seed", -(2**63))
    seed: int | None = body.get("seed")
    legacy = _int_at_least(body, "max_tokens", 1)
    current = _int_at_least(body, "max_completion_tokens", 1)
    max_tokens = current if current is not None else legacy if legacy is not None else default_max_tokens
    min_tokens = _int_at_least(body, "min_tokens", 0)
    if min_tokens is not None and min_tokens > max_tokens:
        raise _fail(f"must not exceed max_tokens ({max_tokens}), got {min_tokens}", "min_tokens")
    return stream, bool(include_usage), max_tokens, seed


def parse_chat_request(raw: bytes, default_max_tokens: int) -> ChatRequest:
    """Validate a chat-completions body; raises InputError naming the field on any problem."""
    body = _load(raw)
    messages = _check_messages(body.get("messages"))
    return ChatRequest(messages, *_generation(body, default_max_tokens))


def _check_prompt(value: Any) -> str:
    if value is None:
        raise _fail("is required", "prompt")
    if isinstance(value, list):
        # A list of several prompts is a batch with one choice per prompt; the simulator serves one.
        if len(value) != 1 or not isinstance(value[0], str):
            raise _fail("must be a string or a list of exactly one string", "prompt")
        value = value[0]
    if not isinstance(value, str):
        raise _fail(f"must be a string or a list of one string, got {type(value).__name__}", "prompt")
    return value


def parse_completion_request(raw: bytes, default_max_tokens: int) -> CompletionRequest:
    """Validate a legacy ``/v1/completions`` body; raises InputError naming the field."""
    body = _load(raw)
    prompt = _check_prompt(body.get("prompt"))
    if body.get("echo"):
        raise _fail("echo is not supported", "echo")
    return CompletionRequest(prompt, *_generation(body, default_max_tokens))


def completion_prompt_ids(prompt: str) -> list[str]:
    """Tokens of a completions prompt: the priming markers, then its whitespace words.

    The markers come first (like a BOS sequence) so that the generated words follow the prompt's
    words directly: a follow-up prompt made of prompt + completion + more text then starts token
    for token with the previous prompt plus its completion, and the prefix cache serves it.
    """
    return [*PRIMING_IDS, *prompt.split()]


def error_body(message: str, param: str | None, status: int = 400) -> dict[str, Any]:
    """An OpenAI-style error object."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param or None, "code": None}}


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


class ChunkWriter:
    """Builds the SSE byte frames of one streamed completion; one token per chunk."""

    def __init__(self, completion_id: str, model: str, created: int) -> None:
        head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self._head = json.dumps(head, separators=(",", ":"))[:-1]
        self._prefix = f'data: {self._head},"choices":[{{"index":0,"delta":{{'.encode()
        self._suffix = b'},"logprobs":null,"finish_reason":null}]}\n\n'

    def tokens(self, words: Sequence[str], start: int, stop: int) -> bytes:
        """Frames for tokens ``start`` (0-based) up to ``stop``; the first one carries the role."""
        frames = []
        for i in range(start, stop):
            if i == 0:
                delta = '"role":"assistant","content":' + json.dumps(words[0])
            else:
                delta = '"content":' + json.dumps(" " + words[i])
            frames.append(self._prefix + delta.encode() + self._suffix)
        return b"".join(frames)

    def finish(self, usage_stats: dict[str, Any] | None) -> bytes:
        """The finishing chunk, the usage chunk when asked for, and ``[DONE]``."""
        out = f'data: {self._head},"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"length"}}]}}\n\n'
        if usage_stats is not None:
            out += f'data: {self._head},"choices":[],"usage":{json.dumps(usage_stats, separators=(",", ":"))}}}\n\n'
        return (out + "data: [DONE]\n\n").encode()


def completion_object(
    completion_id: str, model: str, created: int, text: str, usage_stats: dict[str, Any]
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` response."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": usage_stats,
    }


class TextChunkWriter:
    """SSE frames of one streamed legacy completion (``text_completion`` objects); one token per chunk."""

    def __init__(self, completion_id: str, model: str, created: int) -> None:
        head = {"id": completion_id, "object": "text_completion", "created": created, "model": model}
        self._head = json.dumps(head, separators=(",", ":"))[:-1]
        self._prefix = f'data: {self._head},"choices":[{{"index":0,"text":'.encode()
        self._suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def tokens(self, words: Sequence[str], start: int, stop: int) -> bytes:
        """Frames for tokens ``start`` (0-based) up to ``stop``."""
        return b"".join(
            self._prefix + json.dumps(words[i] if i == 0 else " " + words[i]).encode() + self._suffix
            for i in range(start, stop)
        )

    def finish(self, usage_stats: dict[str, Any] | None) -> bytes:
        """The finishing chunk, the usage chunk when asked for, and ``[DONE]``."""
        out = f'data: {self._head},"choices":[{{"index":0,"text":"","logprobs":null,"finish_reason":"length"}}]}}\n\n'
        if usage_stats is not None:
            out += f'data: {self._head},"choices":[],"usage":{json.dumps(usage_stats, separators=(",", ":"))}}}\n\n'
        return (out + "data: [DONE]\n\n").encode()


def text_completion_object(
    completion_id: str, model: str, created: int, text: str, usage_stats: dict[str, Any]
) -> dict[str, Any]:
    """A non-streaming ``text_completion`` response."""
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}],
        "usage": usage_stats,
    }
