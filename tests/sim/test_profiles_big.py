"""The deployment-shaped profiles: their documented arithmetic, their saturation shape, and a real
simulator process serving a speculative-decoding profile."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import aiohttp
import pytest

from agentperf.runtime.procs import start_child
from agentperf.sim.calibrate import AGENTPERF_WORKLOAD, LevelSummary, run_level
from agentperf.sim.profile import bundled_profiles, load_profile

H200 = "h200-sglang-tp8"
GB300 = "gb300-nvl72-trtllm-disagg"
MLA_VALUES_PER_TOKEN_LAYER = 512 + 64
LAYERS = 61


def test_both_deployment_profiles_are_bundled() -> None:
    assert {H200, GB300} <= set(bundled_profiles())


def test_h200_kv_capacity_follows_the_documented_arithmetic() -> None:
    p = load_profile(H200)
    kv_bytes_per_gpu = (141 * 0.88 - 685 / 8) * 1e9
    tokens = kv_bytes_per_gpu / (MLA_VALUES_PER_TOKEN_LAYER * LAYERS * 2)
    assert p.kv_blocks == int(tokens // p.block_size)
    assert (p.gpus, p.idle_w, p.max_w, p.speculative) == (8, 100.0, 700.0, None)


def test_gb300_is_forty_gpus_with_three_mtp_drafts_and_fp8_kv() -> None:
    p = load_profile(GB300)
    assert (p.gpus, p.max_w) == (40, 1400.0)
    assert p.speculative is not None and p.speculative.tokens_per_step == 3
    assert p.speculative.mean_tokens_per_step == pytest.approx(1 + 0.8 + 0.64 + 0.512)
    per_gpu = (288 * 0.85 - 671e9 * 4.5 / 8 / 1e9 / 16) * 1e9 / (MLA_VALUES_PER_TOKEN_LAYER * LAYERS)
    assert p.kv_blocks == int(per_gpu * 16 // p.block_size)


@cache
def h200(agents: int) -> LevelSummary:
    return run_level(
        load_profile(H200), agents, duration_s=240.0, warmup_s=40.0, seed=3, spec=AGENTPERF_WORKLOAD
    )


def test_h200_under_the_agentperf_workload_passes_tier_1_at_eight_and_fails_at_sixty_four() -> None:
    assert h200(8).passes(1)
    assert not h200(64).passes(1)
    # Past the KV cliff the growing conversations no longer fit: the prefix hit rate collapses.
    assert h200(64).cached_fraction < h200(8).cached_fraction - 0.3


@pytest.mark.e2e
async def test_a_real_simulator_streams_exactly_max_tokens_with_speculative_decoding(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    args = ["--set", f"profile={GB300}", "--set", f"request_log={log}", "--set", "dcgm_port=-1"]
    child = await start_child("sim-gb300", "agentperf.sim", args)
    try:
        url = f"http://127.0.0.1:{child.port('http_port')}/v1/chat/completions"
        body = {"messages": [{"role": "user", "content": "hello " * 50}], "stream": True, "max_tokens": 90}
        chunks = 0
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            assert response.status == 200
            async for line in response.content:
                if line.startswith(b'data: {"id"') and b'"content"' in line:
                    chunks += 1
    finally:
        await child.stop()
    row = json.loads(log.read_text().splitlines()[0])
    assert chunks == row["completion_tokens"] == 90
    # About 3 tokens per 15 ms step: far below the 90 x 15 ms a one-token-per-step engine needs.
    assert row["last_token_s"] - row["first_token_s"] < 0.6 * 89 * 0.015
