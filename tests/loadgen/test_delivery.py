"""The gRPC peers of the engine: records reach the judge over one IngestRecords stream per
level even when it hiccups; tool gaps survive an unreachable toolsim."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentperf.loadgen import (
    ClientSettings,
    EventKind,
    JudgeSink,
    LevelEvent,
    LevelResult,
    LevelRunner,
    LevelSpec,
    LocalTools,
    ToolSimTools,
)
from agentperf.runtime.server import channel
from agentperf.trajectory import ToolCall
from agentperf.v1 import common_pb2


async def _run(
    llm: Any, judge_target: str, make_trajectory: Any, **sink_kw: Any
) -> tuple[LevelResult, list[LevelEvent], JudgeSink]:
    llm.set(token_interval_s=0.002)
    traj = make_trajectory("d", [[(2, 3, False)] * 10])
    async with channel(judge_target) as ch:
        sink = JudgeSink(ch, **sink_kw)
        runner = LevelRunner(
            LevelSpec("run", 2, window_s=0.2, progress_interval_s=0.05),
            [traj],
            ClientSettings(llm.url, "m"),
            LocalTools(scale=0),
            sink,
        )
        events: list[LevelEvent] = []
        result = await asyncio.wait_for(runner.run(events.append), 30)
    return result, events, sink


def _assert_all_delivered_once(result: LevelResult, judge: Any) -> None:
    sent = result.counters.requests_sent
    assert sent > 10
    assert result.delivery.error == ""
    assert result.delivery.delivered == sent
    assert len(judge.records) == sent
    assert all(r.status != common_pb2.REQUEST_STATUS_UNSPECIFIED for r in judge.records.values())


async def test_every_record_reaches_the_judge(llm: Any, peers: Any, make_trajectory: Any) -> None:
    target = await peers.start_judge()
    result, events, _ = await _run(llm, target, make_trajectory)
    _assert_all_delivered_once(result, peers.judge)
    assert peers.judge.streams == 1 and result.delivery.duplicates == 0
    done = events[-1]
    assert done.kind is EventKind.DONE and done.counters.records_delivered == done.counters.requests_sent
    assert max(e.counters.records_written for e in events) == result.counters.requests_sent


async def test_broken_streams_are_resent_without_loss_or_double_count(
    llm: Any, peers: Any, make_trajectory: Any
) -> None:
    peers.judge.break_streams, peers.judge.break_after = 2, 3
    target = await peers.start_judge()
    result, _, sink = await _run(llm, target, make_trajectory, backoff_s=0.02)
    _assert_all_delivered_once(result, peers.judge)
    assert peers.judge.streams == 3 and sink.attempts == 3
    # the judge saw re-sent records, and reported them as duplicates rather than new ones
    assert result.delivery.duplicates >= 3
    assert result.delivery.accepted + result.delivery.duplicates == result.counters.requests_sent
    assert peers.judge.received > result.counters.requests_sent


async def test_judge_down_at_start_then_up(
    llm: Any, peers: Any, make_trajectory: Any, free_tcp_port: Any
) -> None:
    port = free_tcp_port()
    starter = asyncio.get_running_loop().call_later(
        0.3, lambda: asyncio.ensure_future(peers.start_judge(port))
    )
    try:
        result, _, sink = await _run(llm, f"127.0.0.1:{port}", make_trajectory, backoff_s=0.1, retries=8)
    finally:
        starter.cancel()
    _assert_all_delivered_once(result, peers.judge)
    assert sink.attempts >= 2


async def test_unreachable_judge_is_reported(llm: Any, make_trajectory: Any, free_tcp_port: Any) -> None:
    result, events, sink = await _run(
        llm, f"127.0.0.1:{free_tcp_port()}", make_trajectory, backoff_s=0.01, retries=2
    )
    assert result.delivery.delivered == 0
    assert "UNAVAILABLE" in result.delivery.error and "gave up after 3 attempts" in result.delivery.error
    assert events[-1].kind is EventKind.DONE and events[-1].delivery_error == result.delivery.error
    assert sink.attempts == 3


async def test_a_rejected_stream_is_not_retried(llm: Any, peers: Any, make_trajectory: Any) -> None:
    peers.judge.reject = True
    target = await peers.start_judge()
    result, _, sink = await _run(llm, target, make_trajectory, backoff_s=0.01, retries=5)
    assert sink.attempts == 1 and peers.judge.streams == 1
    assert "INVALID_ARGUMENT" in result.delivery.error and result.delivery.delivered == 0


async def test_unreachable_toolsim_sleeps_the_gap_locally(free_tcp_port: Any) -> None:
    async with channel(f"127.0.0.1:{free_tcp_port()}") as ch:
        tools = ToolSimTools(ch, fallback_s=0.05)
        started = time.monotonic()
        await tools.run_tool(ToolCall("bash", "shell", 0.1), "r/1/0/0/0/0")
        await tools.run_tool(ToolCall("bash", "shell"), "r/1/0/0/0/1")
    assert tools.errors == 2
    assert time.monotonic() - started >= 0.15
