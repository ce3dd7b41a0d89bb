"""Engine profiles: the exact request body of each, as the server receives it, and each
engine's reasoning-delta shape counted as output (time to first token at the first
reasoning chunk, time to first answer at the first content chunk, reasoning kept out of
the history)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agentperf.errors import ConfigError
from agentperf.loadgen.client import ChatClient, ClientSettings, Exchange
from agentperf.loadgen.history import Conversation
from agentperf.loadgen.profiles import PROFILES, length_fields, profile, request_tail

FORCED = {"max_tokens": 9, "min_tokens": 9, "ignore_eos": True}
BODIES = {
    "vllm": FORCED,
    "sglang": FORCED,
    "trtllm": FORCED,
    "dynamo": FORCED,
    "openai": {"max_completion_tokens": 9},
    "openai-legacy": {"max_tokens": 9},
}
SHAPES = [(name, key) for name, p in PROFILES.items() for key in p.reasoning_keys]


def test_every_profile_has_a_body_test() -> None:
    assert set(BODIES) == set(PROFILES)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_request_tail_is_exact(name: str) -> None:
    body = json.loads("{" + request_tail("m1", name, 9))
    assert body == {"model": "m1", "stream": True, "stream_options": {"include_usage": True}, **BODIES[name]}
    assert list(body) == ["model", "stream", "stream_options", *BODIES[name]]


async def _exchange(url: str, name: str, tokens: int = 9) -> Exchange:
    client = ChatClient(ClientSettings(url, "m1", name), agents=1)
    try:
        body, _ = Conversation("sys").body("hi", request_tail("m1", name, tokens))
        ex = Exchange(time.monotonic(), time.time())
        await client.stream(body, "run1/1/0/0/t/0/0", ex)
        return ex
    finally:
        await client.close()


@pytest.mark.parametrize("name", sorted(BODIES))
async def test_server_receives_the_profile_body(name: str, engine: Any) -> None:
    ex = await _exchange(engine.url, name)
    assert ex.failure == "" and ex.output_tokens == 9
    assert engine.raw[0] == (
        b'{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}],'
        + request_tail("m1", name, 9).encode()
    )
    assert engine.bodies[0] == {
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "model": "m1",
        "stream": True,
        "stream_options": {"include_usage": True},
        **BODIES[name],
    }


@pytest.mark.parametrize(("name", "key"), SHAPES)
async def test_reasoning_deltas_count_as_output(name: str, key: str, engine: Any) -> None:
    engine.reasoning_key, engine.reasoning = key, 4
    ex = await _exchange(engine.url, name, tokens=7)
    assert ex.failure == ""
    assert ex.chunks == 7 and ex.output_tokens == 7
    assert 0 < ex.t_first <= ex.t_answer  # TTFT at the first reasoning delta, TTFA at content
    assert ex.text == "g4 g5 g6 "  # the history gets the answer only


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="engine_profile 'tgi'"):
        length_fields("tgi")
    assert profile("sglang").reasoning_keys == ("reasoning_content",)
