"""`agentperf gate --judge`: the CLI as a real process against a real judge process over HTTP.

Covers what a CI step or an Argo CD PostSync Job relies on: exit 0 / 1 / 2, the run's own
rules by default, waiting while a run is still measuring, and a clean error for a run the
judge has never seen.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import channel
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc


def _state(
    run_id: str, phase: int, slo1_agents: int, rules: tuple[str, int] | None = None
) -> judge_pb2.RunState:
    tier = common_pb2.SloTier(name="slo1", min_output_speed=30.0, max_ttft_s=10.0)
    state = judge_pb2.RunState(
        run_id=run_id,
        phase=phase,  # type: ignore[arg-type]
        tiers=[
            judge_pb2.TierAnswer(
                tier=tier, max_agents=slo1_agents, converged=True, agents_per_gpu=slo1_agents
            )
        ],
        gpus=1,
    )
    if rules is not None:
        state.gate.append(judge_pb2.GateRule(tier=rules[0], min_agents=rules[1]))
    return state


@pytest.fixture
async def judge(tmp_path: Path) -> AsyncIterator[tuple[ChildProcess, judge_pb2_grpc.JudgeStub, str]]:
    args = ["--set", f"db_path={tmp_path / 'judge.db'}", "--set", "http_port=0"]
    proc = await start_child("judge", "agentperf.services.judge", args, log_dir=tmp_path)
    try:
        async with channel(proc.grpc_target) as ch:
            yield proc, judge_pb2_grpc.JudgeStub(ch), f"http://127.0.0.1:{proc.port('http_port')}"
    finally:
        await proc.stop()


async def _gate(url: str, run_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "agentperf", "gate", "--judge", url, "--run-id", run_id, *extra]
    return await asyncio.to_thread(
        subprocess.run, args, capture_output=True, text=True, timeout=60, check=False
    )


async def test_exit_codes_follow_the_runs_own_rules_and_overrides(
    judge: tuple[ChildProcess, judge_pb2_grpc.JudgeStub, str],
) -> None:
    _, stub, url = judge
    await stub.PutRun(_state("done", judge_pb2.RUN_PHASE_FINISHED, 12, rules=("slo1", 10)))
    own = await _gate(url, "done")
    assert own.returncode == 0 and "ok: slo1 max agents 12 >= 10" in own.stdout
    stricter = await _gate(url, "done", "--rule", "slo1:agents=16")
    assert stricter.returncode == 1 and "FAIL: slo1 max agents 12 >= 16" in stricter.stdout
    per_gpu = await _gate(url, "done", "--rule", "slo1:per_gpu=12")
    assert per_gpu.returncode == 0


async def test_interrupted_and_unknown_runs_exit_2(
    judge: tuple[ChildProcess, judge_pb2_grpc.JudgeStub, str],
) -> None:
    _, stub, url = judge
    await stub.PutRun(_state("cut", judge_pb2.RUN_PHASE_INTERRUPTED, 12))
    cut = await _gate(url, "cut", "--rule", "slo1:1")
    assert cut.returncode == 2 and "did not finish" in cut.stdout
    unknown = await _gate(url, "nobody", "--rule", "slo1:1")
    assert unknown.returncode == 2 and "HTTP 404" in unknown.stdout
    bad = await _gate(url, "cut", "--rule", "slo1:lots")
    assert bad.returncode == 2 and "--rule #1" in bad.stderr


async def test_waits_while_the_run_is_measuring(
    judge: tuple[ChildProcess, judge_pb2_grpc.JudgeStub, str],
) -> None:
    _, stub, url = judge
    await stub.PutRun(_state("live", judge_pb2.RUN_PHASE_RUNNING, 4))
    waiting = asyncio.ensure_future(
        _gate(url, "live", "--rule", "slo1:8", "--wait-s", "30", "--poll-s", "0.2")
    )
    await asyncio.sleep(1.0)
    assert not waiting.done(), "a running run must be waited for"
    await stub.PutRun(_state("live", judge_pb2.RUN_PHASE_FINISHED, 9))
    proc = await asyncio.wait_for(waiting, 30)
    assert proc.returncode == 0, proc.stdout
    # Without --wait-s a running run is an error at once: the gate cannot decide yet.
    await stub.PutRun(_state("live2", judge_pb2.RUN_PHASE_RUNNING, 4))
    pending = await _gate(url, "live2", "--rule", "slo1:1")
    assert pending.returncode == 2 and "still running" in pending.stdout
