"""Request validation names the field; accepted requests come out normalised."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentperf.errors import InputError
from agentperf.sim.api import ChunkWriter, parse_chat_request

OK_MESSAGES = [{"role": "user", "content": "hi"}]


def parse(body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_chat_request(raw, default_max_tokens=7)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", ""),
        (b"[" * 100000, ""),
        ([1, 2], ""),
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        ({"messages": OK_MESSAGES, "max_tokens": "ten"}, "max_tokens"),
        ({"messages": OK_MESSAGES, "max_tokens": True}, "max_tokens"),
        ({"messages": OK_MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"messages": OK_MESSAGES, "max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"messages": OK_MESSAGES, "stream": "yes"}, "stream"),
        ({"messages": OK_MESSAGES, "stream_options": {"include_usage": 1}}, "include_usage"),
        ({"messages": OK_MESSAGES, "temperature": "hot"}, "temperature"),
        ({"messages": OK_MESSAGES, "n": 2}, "n"),
        ({"messages": OK_MESSAGES, "min_tokens": 9, "max_tokens": 3}, "min_tokens"),
        ({"messages": OK_MESSAGES, "model": 3}, "model"),
        ({"messages": OK_MESSAGES, "stop": [1]}, "stop"),
    ],
)
def test_bad_bodies_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(InputError) as info:
        parse(body)
    assert info.value.field == field


def test_max_completion_tokens_wins_and_default_applies() -> None:
    assert parse({"messages": OK_MESSAGES}).max_tokens == 7
    assert parse({"messages": OK_MESSAGES, "max_tokens": 5}).max_tokens == 5
    assert parse({"messages": OK_MESSAGES, "max_tokens": 5, "max_completion_tokens": 9}).max_tokens == 9


def test_extensions_and_sampling_fields_are_accepted() -> None:
    chat = parse(
        {
            "messages": OK_MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
            "ignore_eos": True,
            "min_tokens": 4,
            "max_tokens": 4,
            "temperature": 0,
            "seed": 3,
            "unknown_vendor_field": {"x": 1},
        }
    )
    assert (chat.stream, chat.include_usage, chat.seed, chat.max_tokens) == (True, True, 3, 4)


def test_chunks_concatenate_to_the_words() -> None:
    writer = ChunkWriter("chatcmpl-1", "m", 0)
    frames = (writer.tokens(["a", "b", "c"], 0, 2) + writer.tokens(["a", "b", "c"], 2, 3)).decode()
    chunks = [json.loads(f[len("data: ") :]) for f in frames.split("\n\n") if f]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "a b c"
    tail = writer.finish({"prompt_tokens": 1}).decode().split("\n\n")
    assert json.loads(tail[0][6:])["choices"][0]["finish_reason"] == "length"
    assert json.loads(tail[1][6:]) == {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [], "usage": {"prompt_tokens": 1},
    }  # fmt: skip
    assert tail[2] == "data: [DONE]"
