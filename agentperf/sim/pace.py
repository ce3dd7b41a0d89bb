"""Does the real-time server keep the model's pace? Many concurrent streams against a real process.

``python -m agentperf.sim.pace --streams 60 --tokens 200`` starts a simulator, opens that many
streams at once (distinct 200-word prompts), and compares the server-side span (first arrival to
last token, from its request log) with the same batch stepped in virtual time. A ratio near 1
means the Python loop kept up with the modelled step times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from agentperf.runtime.procs import start_child
from agentperf.sim.engine import Engine
from agentperf.sim.profile import load_profile
from agentperf.sim.tokens import prompt_token_ids


@dataclass(frozen=True)
class PaceResult:
    streams: int
    tokens: int
    chunks: int
    server_span_s: float
    model_span_s: float

    @property
    def ratio(self) -> float:
        return self.server_span_s / self.model_span_s


def _messages(i: int, words: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": " ".join(f"s{i}w{j}" for j in range(words))}]


def model_span(profile: str, streams: int, tokens: int, words: int) -> float:
    """Virtual seconds the engine needs for the whole batch arriving at once."""
    engine = Engine(load_profile(profile))
    for i in range(streams):
        engine.add(str(i), prompt_token_ids(_messages(i, words)), ["w"] * tokens)
    span = 0.0
    while engine.has_work():
        span += engine.step().duration_s
    return span


async def _one(session: aiohttp.ClientSession, url: str, i: int, tokens: int, words: int) -> int:
    body = {"messages": _messages(i, words), "stream": True, "max_tokens": tokens}
    chunks = 0
    async with session.post(url, json=body) as response:
        async for line in response.content:
            if line.startswith(b'data: {"id"') and b'"content"' in line:
                chunks += 1
    return chunks


async def measure(streams: int, tokens: int, *, words: int = 200, profile: str = "tiny") -> PaceResult:
    """Run the batch against a fresh simulator process and compare with the model."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        args = ["--set", f"request_log={log}", "--set", f"profile={profile}", "--set", "dcgm_port=-1"]
        child = await start_child("sim-pace", "agentperf.sim", args)
        try:
            url = f"http://127.0.0.1:{child.port('http_port')}/v1/chat/completions"
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                counts = await asyncio.gather(*(_one(session, url, i, tokens, words) for i in range(streams)))
        finally:
            await child.stop()
        lines = [json.loads(x) for x in log.read_text().splitlines()]
    span = max(x["last_token_s"] for x in lines) - min(x["arrival_s"] for x in lines)
    return PaceResult(streams, tokens, sum(counts), span, model_span(profile, streams, tokens, words))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentperf.sim.pace", description=__doc__)
    parser.add_argument("--streams", type=int, default=60)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args(argv)
    r = asyncio.run(measure(args.streams, args.tokens, profile=args.profile))
    print(
        f"streams={r.streams} tokens={r.tokens} chunks={r.chunks} server_span_s={r.server_span_s:.3f} "
        f"model_span_s={r.model_span_s:.3f} ratio={r.ratio:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
