"""A fake engine for the prompt tests: it streams ``max_tokens`` words (the first ones as
reasoning deltas if asked) and reports ``usage.prompt_tokens`` by a counting rule of the
test's choosing (words, k x words, tokens under a tokenizer), plus helpers to run one agent.

Test files get them through fixtures (``engine``, ``run_agent``, ``phi3_path``) because
conftest modules cannot be imported by name under ``--import-mode=importlib``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agentperf.loadgen.agent import Agent, AgentEnv, LevelState
from agentperf.loadgen.client import ChatClient, ClientSettings
from agentperf.loadgen.prompt import PromptBuilder
from agentperf.loadgen.tools import LocalTools
from agentperf.trajectory import Trajectory

PHI3 = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "tokenizers" / "phi-3-mini"


def word_count(messages: Sequence[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) for m in messages)


@dataclass
class Engine:
    """The fake server's behaviour and what it received."""

    prompt_tokens: Callable[[Sequence[dict[str, str]]], int] = word_count
    reasoning_key: str = ""  # stream the first ``reasoning`` tokens under this delta key
    reasoning: int = 0
    answered: int = 1 << 30  # requests from this index on are held unanswered until teardown
    raw: list[bytes] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    url: str = ""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, n: int) -> None:
        """Until ``n`` requests have arrived (at most 20 s)."""
        async with asyncio.timeout(20):
            while len(self.raw) < n:
                self._arrived.clear()
                await self._arrived.wait()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        self.raw.append(raw)
        self.bodies.append(body)
        self._arrived.set()
        if len(self.raw) > self.answered:
            await self.release.wait()
            return web.Response(status=503)
        n = int(body.get("max_tokens") or body.get("max_completion_tokens") or 4)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        text = ""
        for i in range(n):
            key = self.reasoning_key if i < self.reasoning else "content"
            piece = f"g{i} "
            if key == "content":
                text += piece
            await _send(resp, {"choices": [{"index": 0, "delta": {key: piece}, "finish_reason": None}]})
        self.generated.append(text)
        await _send(resp, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        usage = {"prompt_tokens": self.prompt_tokens(body["messages"]), "completion_tokens": n}
        await _send(resp, {"choices": [], "usage": usage})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


async def _send(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    fake = Engine()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    fake.release.set()
    await runner.cleanup()


RunAgent = Callable[..., Awaitable[None]]


@pytest.fixture
def run_agent(engine: Engine) -> RunAgent:
    """``await run_agent(trajectory, prompts, requests=n)``: one agent replays ``trajectory``
    until the engine has received ``requests`` requests (counted over the test). The last one
    is held unanswered, so exactly the earlier ones were handled by the agent."""

    async def run(
        trajectory: Trajectory,
        prompts: PromptBuilder,
        *,
        requests: int,
        profile: str = "vllm",
        agent: int = 0,
        seed: int = 7,
    ) -> None:
        client = ChatClient(ClientSettings(engine.url, "m1", profile), agents=1)
        env = AgentEnv(
            run_id="run1",
            level=1,
            seed=seed,
            model="m1",
            engine_profile=profile,
            trajectories=[trajectory],
            client=client,
            tools=LocalTools(scale=0),
            state=LevelState(1, 0),
            prompts=prompts,
        )
        engine.answered = requests - 1
        task = asyncio.get_running_loop().create_task(Agent(env, agent, 0, 1).run())
        try:
            await engine.wait_for(requests)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    return run


@pytest.fixture(scope="session")
def phi3_path() -> str:
    if not (PHI3 / "tokenizer.json").is_file():
        pytest.skip(f"tokenizer not found at {PHI3}")
    return str(PHI3)
