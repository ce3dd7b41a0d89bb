"""How many concurrent streams the simulator serves in real time on one core, keeping its own
step timing within 1 % of the model.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/sim_capacity.py [--profile gb300-nvl72-trtllm-disagg]
        [--streams 64 128 256 512 1024] [--tokens 100] [--out docs/bench/sim_capacity.json]

Per level a fresh simulator process (``python -m agentperf.sim``) is pinned to one core (this
process pins itself to core 0 before starting it, so the child inherits that, then moves to the
other cores) and a light aiohttp client opens that many streams at once: distinct 200-word
prompts, ``--tokens`` tokens each, every SSE chunk read. The server's request log gives the
span from the first arrival to the last token; the same batch stepped in virtual time by the
engine gives the modelled span. Drift = server span / model span - 1: the loop's accumulated
lateness against the modelled step times over the whole window (it schedules each step from the
previous step's modelled end, so a loop that keeps up has drift near 0 and one that cannot
keep up falls behind without bound). The capacity is the largest level with |drift| <= 1 %.

A speculative profile is run with ``acceptance_rate`` forced to 1 (written to a temporary profile
file): every decode step then emits k + 1 tokens per stream, the heaviest delivery load the
profile can ask for, and the server and the replay draw nothing at random, so the drift is the
loop's own and not a difference between two random schedules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from agentperf.runtime.procs import start_child
from agentperf.sim.engine import Engine
from agentperf.sim.profile import load_profile
from agentperf.sim.tokens import prompt_token_ids

DRIFT_LIMIT = 0.01
WORDS = 200


def _messages(i: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": " ".join(f"s{i}w{j}" for j in range(WORDS))}]


async def _stream(session: aiohttp.ClientSession, url: str, i: int, tokens: int) -> int:
    body = {"messages": _messages(i), "stream": True, "max_tokens": tokens}
    chunks = 0
    async with session.post(url, json=body, headers={"X-Request-Id": f"s{i}"}) as response:
        async for line in response.content:
            if line.startswith(b'data: {"id"') and b'"content"' in line:
                chunks += 1
    return chunks


def _pin(cores: set[int]) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def deterministic_profile(name: str, folder: Path) -> str:
    """The profile itself, or a copy with every draft accepted when it is speculative."""
    profile = load_profile(name)
    if profile.speculative is None:
        return name
    data = profile.model_dump()
    data["speculative"]["acceptance_rate"] = 1.0
    path = folder / f"{Path(name).stem}-deterministic.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


async def level(profile: str, streams: int, tokens: int) -> dict[str, Any]:
    """One level against a fresh one-core simulator process."""
    all_cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else {0}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        args = ["--set", f"request_log={log}", "--set", f"profile={profile}", "--set", "dcgm_port=-1"]
        _pin({min(all_cores)})
        child = await start_child("sim-capacity", "agentperf.sim", args)
        _pin(all_cores - {min(all_cores)} or all_cores)
        try:
            url = f"http://127.0.0.1:{child.port('http_port')}/v1/chat/completions"
            cpu0 = time.process_time()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                counts = await asyncio.gather(*(_stream(session, url, i, tokens) for i in range(streams)))
            client_cpu = time.process_time() - cpu0
        finally:
            await child.stop()
            _pin(all_cores)
        rows = [json.loads(x) for x in log.read_text().splitlines()]
    start = min(r["arrival_s"] for r in rows)
    server_span = max(r["last_token_s"] for r in rows) - start
    arrivals = sorted((r["arrival_s"] - start, int(r["request_id"][1:])) for r in rows)
    model = model_span_with_arrivals(profile, arrivals, tokens)
    chunks = sum(counts)
    return {
        "streams": streams,
        "tokens_per_stream": tokens,
        "chunks": chunks,
        "complete": chunks == streams * tokens,
        "server_span_s": round(server_span, 4),
        "model_span_s": round(model, 4),
        "drift_pct": round(100.0 * (server_span / model - 1.0), 3),
        "chunks_per_s": round(chunks / server_span, 1),
        "client_cpu_s": round(client_cpu, 3),
    }


def model_span_with_arrivals(profile: str, arrivals: Sequence[tuple[float, int]], tokens: int) -> float:
    """Virtual seconds from the first arrival to the last token, requests arriving as the server saw them.

    The client cannot open hundreds of streams in the same instant; replaying the logged arrival
    offsets keeps that spread out of the drift.
    """
    engine = Engine(load_profile(profile))
    pending = list(arrivals)
    now = 0.0
    while pending or engine.has_work():
        while pending and pending[0][0] <= now:
            _at, i = pending.pop(0)
            engine.add(f"s{i}", prompt_token_ids(_messages(i)), ["w"] * tokens)
        if engine.has_work():
            now += engine.step().duration_s
        else:
            now = pending[0][0]
    return now


async def run(profile: str, levels: Sequence[int], tokens: int) -> dict[str, Any]:
    results = []
    for n in levels:
        r = await level(profile, n, tokens)
        results.append(r)
        print(
            f"streams={r['streams']:5d} chunks={r['chunks']:7d} server_span_s={r['server_span_s']:8.3f} "
            f"model_span_s={r['model_span_s']:8.3f} drift={r['drift_pct']:+7.2f}% "
            f"chunks/s={r['chunks_per_s']:9.1f}",
            flush=True,
        )
    good = [r["streams"] for r in results if r["complete"] and abs(r["drift_pct"]) <= 100 * DRIFT_LIMIT]
    return {
        "bench": "sim_capacity",
        "profile": profile,
        "drift_limit_pct": 100 * DRIFT_LIMIT,
        "max_streams_within_limit": max(good) if good else 0,
        "levels": results,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores_visible": os.cpu_count(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="gb300-nvl72-trtllm-disagg")
    parser.add_argument("--streams", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/sim_capacity.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        profile = deterministic_profile(args.profile, Path(tmp))
        report = asyncio.run(run(profile, args.streams, args.tokens))
    report["profile"] = args.profile
    report["acceptance_rate_forced"] = profile != args.profile
    print(f"max_streams_within_{report['drift_limit_pct']:g}pct={report['max_streams_within_limit']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
