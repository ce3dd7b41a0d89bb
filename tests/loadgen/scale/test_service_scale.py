"""The loadgen service with worker processes (a real process over real gRPC) and the self-check
fields of LevelEvent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel, in_process
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.loadgen.servicer import LoadGenService
from agentperf.v1 import loadgen_pb2, loadgen_pb2_grpc

K = loadgen_pb2


def _settings(llm: Any, peers: Any, **extra: Any) -> dict[str, Any]:
    return {
        "target_url": llm.url,
        "trajectory_store": peers.target,
        "toolsim": peers.target,
        "judge": peers.judge_target,
        "progress_interval_s": 0.1,
        **extra,
    }


def _dataset(llm: Any, peers: Any, make_trajectory: Any) -> None:
    llm.set(token_interval_s=0.002)
    peers.store.datasets["ds"] = [
        make_trajectory(f"t{i}", [[(3, 4, True), (2, 3, False)], [(5, 2, False)]]) for i in range(3)
    ]


async def test_workers_in_a_real_service_process(
    llm: Any, peers: Any, make_trajectory: Any, tmp_path: Path
) -> None:
    _dataset(llm, peers, make_trajectory)
    await peers.start_judge()
    # Lenient lag and CPU limits: the fakes share the 2-core machine with the workers.
    values = _settings(llm, peers, workers=2, selfcheck_max_lag_p99_s=1.0, selfcheck_max_cpu=2.0)
    args = [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]
    child = await start_child("loadgen", "agentperf.services.loadgen", args, log_dir=tmp_path)
    try:
        async with channel(child.grpc_target) as ch:
            stub = loadgen_pb2_grpc.LoadGeneratorStub(ch)
            request = K.RunLevelRequest(run_id="w", level=4, dataset="ds", window_s=0.5)
            events = [e async for e in stub.RunLevel(request)]
            stats = await stub.GetStats(K.GetStatsRequest(run_id="w"))
    finally:
        assert await child.stop() == 0
    assert "4 agents in 2 worker processes" in events[0].message
    done = events[-1]
    assert done.kind == K.LEVEL_EVENT_KIND_DONE
    assert done.workers == 2 and done.agents == 4
    assert done.valid and done.invalid_reason == ""
    assert done.records_delivered == done.requests_sent == len(peers.judge.records) > 8
    assert stats.records_delivered == done.requests_sent
    assert {r.agent for r in peers.judge.records.values()} == {0, 1, 2, 3}
    assert done.cpu_s > 0 and done.rss_peak_bytes > 0 and done.agents_active_mean == pytest.approx(4)
    assert done.loop_lag_p99_s <= done.loop_lag_window_max_s <= done.loop_lag_max_s


@pytest.fixture
async def strict_service(llm: Any, peers: Any, make_trajectory: Any) -> AsyncIterator[Any]:
    """The servicer in-process (workers=1) with a CPU threshold no client can meet."""
    _dataset(llm, peers, make_trajectory)
    await peers.start_judge()
    service = LoadGenService(LoadGenConfig(**_settings(llm, peers, selfcheck_max_cpu=1e-6)))
    async with in_process(service) as ch:
        yield loadgen_pb2_grpc.LoadGeneratorStub(ch)


async def test_an_invalid_level_says_so_in_its_events(strict_service: Any) -> None:
    request = K.RunLevelRequest(run_id="s", level=2, dataset="ds", window_s=0.3)
    events = [e async for e in strict_service.RunLevel(request)]
    opened = next(i for i, e in enumerate(events) if e.kind == K.LEVEL_EVENT_KIND_WINDOW_OPEN)
    assert all(e.valid for e in events[:opened]), "nothing is judged before the window opens"
    closed, done = events[-2:]
    assert closed.kind == K.LEVEL_EVENT_KIND_WINDOW_CLOSED and done.kind == K.LEVEL_EVENT_KIND_DONE
    for event in (closed, done):
        assert not event.valid and "CPU" in event.invalid_reason and event.cpu_fraction > 0
    assert done.workers == 1 and done.records_delivered == done.requests_sent


def test_config_fields_of_scale_and_self_check() -> None:
    config = LoadGenConfig()
    assert (config.workers, config.uvloop) == (1, True)
    assert (config.selfcheck_tick_s, config.selfcheck_max_lag_p99_s) == (0.05, 0.05)
    assert (config.selfcheck_max_cpu, config.selfcheck_min_active) == (0.9, 0.95)
    with pytest.raises(ValueError, match="workers"):
        LoadGenConfig(workers=-1)
    with pytest.raises(ValueError, match="selfcheck_min_active"):
        LoadGenConfig(selfcheck_min_active=1.5)
