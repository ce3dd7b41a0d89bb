"""A level across worker processes: agents sharded by slot, one window, every record reaches the
judge exactly once even when the judge hiccups, and a dead worker fails the level loudly."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import defaultdict
from typing import Any

from agentperf.loadgen import ClientSettings, EventKind, LevelEvent, LevelResult, LevelSpec
from agentperf.loadgen.selfcheck import SelfCheckLimits
from agentperf.loadgen.workers import PeerSettings, PoolRunner
from agentperf.v1 import common_pb2

# Worker processes share two cores with the test's own fake servers: be lenient on lag.
LENIENT = SelfCheckLimits(max_lag_p99_s=1.0, max_cpu=2.0)


def _pool(llm: Any, peers: Any, make_trajectory: Any, level: int = 5, **peer_kw: Any) -> PoolRunner:
    peer_kw.setdefault("judge_backoff_s", 0.05)
    llm.set(token_interval_s=0.002)
    trajectories = [make_trajectory(f"t{i}", [[(3, 4, True), (2, 3, False)] * 3]) for i in range(3)]
    return PoolRunner(
        LevelSpec("pool", level, window_s=0.6, progress_interval_s=0.1),
        trajectories,
        ClientSettings(llm.url, "m"),
        PeerSettings(toolsim=peers.target, judge=peers.judge_target, **peer_kw),
        workers=2,
        limits=LENIENT,
        use_uvloop=False,
    )


async def _run(runner: PoolRunner) -> tuple[LevelResult, list[LevelEvent]]:
    events: list[LevelEvent] = []
    result = await asyncio.wait_for(runner.run(events.append), 60)
    return result, events


def _assert_every_record_once(result: LevelResult, judge: Any) -> None:
    sent = result.counters.requests_sent
    assert sent > 10
    assert result.delivery.error == ""
    assert result.delivery.delivered == sent == result.counters.requests_done
    assert len(judge.records) == sent
    # a re-sent record comes back as a duplicate, never as a second record
    assert result.delivery.accepted == sent - result.delivery.duplicates


async def test_agents_are_sharded_across_workers_in_one_window(
    llm: Any, peers: Any, make_trajectory: Any
) -> None:
    await peers.start_judge()
    runner = _pool(llm, peers, make_trajectory)
    result, events = await _run(runner)
    kinds = [e.kind for e in events if e.kind is not EventKind.PROGRESS]
    assert kinds == [EventKind.STARTED, EventKind.WINDOW_OPEN, EventKind.WINDOW_CLOSED, EventKind.DONE]
    assert "5 agents in 2 worker processes (asyncio)" in events[0].message
    _assert_every_record_once(result, peers.judge)
    done = result.counters
    assert done.agents == 5 and done.check.workers == 2 and done.check.agents == 5
    assert done.check.valid, done.check.invalid_reason
    assert done.check.samples > 0 and done.check.cpu_s > 0 and done.check.rss_peak_bytes > 0
    by_agent: dict[int, int] = defaultdict(int)
    for record in peers.judge.records.values():
        if record.in_window:
            by_agent[record.agent] += 1
    assert sorted(by_agent) == [0, 1, 2, 3, 4], "every agent of both workers measured in the window"
    assert sum(by_agent.values()) == done.window_requests
    # agent a replays trajectory a % 3 first, whichever worker runs it
    first = {
        r.agent: r.trajectory_id for r in peers.judge.records.values() if r.record_id.split("/")[3] == "0"
    }
    assert first == {a: f"t{a % 3}" for a in range(5)}
    assert peers.toolsim.keys, "workers send tool gaps to toolsim"
    progress = [e for e in events if e.kind is EventKind.PROGRESS]
    assert progress and max(e.counters.agents_in_flight for e in progress) <= 5


async def test_judge_briefly_unavailable_loses_and_doubles_nothing(
    llm: Any, peers: Any, make_trajectory: Any, free_tcp_port: Any
) -> None:
    # Down through the warm-up (batches of 7 fill and fail), up when the window opens; then
    # the first two streams it takes break mid-way.
    port = free_tcp_port()
    peers.judge.break_streams, peers.judge.break_after = 2, 2
    peers.judge_target = f"127.0.0.1:{port}"
    runner = _pool(llm, peers, make_trajectory, judge_retries=12, judge_batch_size=7, judge_backoff_s=0.01)
    started: list[asyncio.Future[str]] = []
    sent_while_down = 0

    def start_judge_on_open(event: LevelEvent) -> None:
        nonlocal sent_while_down
        if event.kind is EventKind.WINDOW_OPEN:
            sent_while_down = event.counters.requests_sent
            started.append(asyncio.ensure_future(peers.start_judge(port)))

    result = await asyncio.wait_for(runner.run(start_judge_on_open), 60)
    assert started and started[0].done()
    assert sent_while_down >= 5
    _assert_every_record_once(result, peers.judge)
    assert result.delivery.duplicates > 0 and peers.judge.received > result.counters.requests_sent
    assert peers.judge.streams >= 4  # two broken streams, re-sent, plus batches of 7


async def test_a_dead_worker_fails_the_level(llm: Any, peers: Any, make_trajectory: Any) -> None:
    await peers.start_judge()
    runner = _pool(llm, peers, make_trajectory)

    def kill_on_open(event: LevelEvent) -> None:
        if event.kind is EventKind.WINDOW_OPEN:
            os.kill(runner.worker_pids[1], signal.SIGKILL)

    result = await asyncio.wait_for(runner.run(kill_on_open), 60)
    assert "worker 1 exited" in result.delivery.error and "may be lost" in result.delivery.error
    assert result.stop_reason == "worker 1 died"
    statuses = {r.status for r in peers.judge.records.values()}
    assert peers.judge.records and common_pb2.REQUEST_STATUS_OK in statuses  # worker 0 flushed
