"""``/v1/completions`` (legacy text completions) on a real simulator process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.sim.api import completion_prompt_ids
from agentperf.sim.tokens import PRIMING

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

BLOCK = 16  # the tiny profile's block size


@dataclass
class Sim:
    child: ChildProcess
    session: aiohttp.ClientSession
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.child.port('http_port')}/v1/completions"

    async def log_line(self, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for raw in self.log_path.read_text().splitlines():
                line: dict[str, Any] = json.loads(raw)
                if line["request_id"] == request_id:
                    return line
            await asyncio.sleep(0.02)
        raise AssertionError(f"{request_id} never reached the request log")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sim]:
    tmp = tmp_path_factory.mktemp("completions")
    log_path = tmp / "requests.jsonl"
    args = ["--set", f"request_log={log_path}", "--set", "dcgm_port=-1"]
    child = await start_child("sim", "agentperf.sim", args, log_dir=tmp)
    async with aiohttp.ClientSession() as session:
        yield Sim(child, session, log_path)
    assert await child.stop() == 0


async def stream(sim: Sim, body: dict[str, Any], request_id: str) -> list[Any]:
    async with sim.session.post(
        sim.url, json={**body, "stream": True}, headers={"X-Request-Id": request_id}
    ) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/event-stream")
        text = (await r.read()).decode()
    frames: list[Any] = []
    for frame in text.split("\n\n"):
        if frame:
            payload = frame.removeprefix("data: ")
            frames.append(payload if payload == "[DONE]" else json.loads(payload))
    return frames


async def test_prompt_token_rule() -> None:
    assert len(completion_prompt_ids("def f(x):\n    return  x")) == 4 + PRIMING
    assert completion_prompt_ids("a b")[-2:] == ["a", "b"]


async def test_streaming_text_chunks_and_final_usage(sim: Sim) -> None:
    body = {"prompt": "complete this line", "max_tokens": 12, "stream_options": {"include_usage": True},
            "ignore_eos": True, "min_tokens": 12}  # fmt: skip
    frames = await stream(sim, body, "cmpl-stream")
    assert frames[-1] == "[DONE]"
    usage_frame, final, tokens = frames[-2], frames[-3], frames[:-3]
    assert len(tokens) == 12
    assert all(f["object"] == "text_completion" and f["id"] == "cmpl-cmpl-stream" for f in tokens)
    assert all(f["choices"][0]["finish_reason"] is None for f in tokens)
    text = "".join(f["choices"][0]["text"] for f in tokens)
    assert len(text.split()) == 12 and all(f["choices"][0]["text"].startswith(" ") for f in tokens[1:])
    assert final["choices"][0] == {"index": 0, "text": "", "logprobs": None, "finish_reason": "length"}
    assert usage_frame["choices"] == []
    assert usage_frame["usage"]["prompt_tokens"] == 3 + PRIMING
    assert usage_frame["usage"]["completion_tokens"] == 12
    line = await sim.log_line("cmpl-stream")
    assert line["endpoint"] == "completions" and line["status"] == "ok" and line["stream"] is True
    assert line["prompt_tokens"] == 3 + PRIMING and line["completion_tokens"] == 12 and line["fault"] is None


async def test_streaming_without_usage_has_no_usage_chunk(sim: Sim) -> None:
    frames = await stream(sim, {"prompt": ["one prompt in a list"], "max_tokens": 3}, "cmpl-nousage")
    assert len(frames) == 3 + 1 + 1
    assert all("usage" not in f for f in frames if isinstance(f, dict))


async def test_non_streaming_and_prefix_cache_on_a_follow_up(sim: Sim) -> None:
    prompt = " ".join(f"w{i}" for i in range(200))
    async with sim.session.post(sim.url, json={"prompt": prompt, "max_tokens": 40}) as r:
        assert r.status == 200
        first = await r.json()
    assert first["object"] == "text_completion"
    choice = first["choices"][0]
    assert choice["finish_reason"] == "length" and len(choice["text"].split()) == 40
    assert first["usage"]["prompt_tokens"] == 200 + PRIMING and first["usage"]["completion_tokens"] == 40
    follow = f"{prompt} {choice['text']} and more words"
    async with sim.session.post(sim.url, json={"prompt": follow, "max_tokens": 2}) as r:
        second = await r.json()
    prev = 200 + PRIMING + 40
    assert second["usage"]["prompt_tokens"] == prev + 3
    # Every full block of the previous prompt plus completion is served from the cache.
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == (prev // BLOCK) * BLOCK


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 2, "min_tokens": 3}, "min_tokens"),
        ({"prompt": "x", "max_tokens": 40000}, "prompt"),
    ],
)
async def test_invalid_requests_are_400_naming_the_field(sim: Sim, body: dict[str, Any], param: str) -> None:
    async with sim.session.post(sim.url, json=body) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
