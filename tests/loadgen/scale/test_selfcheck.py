"""The client's self-check: a saturated client marks its level invalid, a healthy one stays valid."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentperf.loadgen import (
    ClientSettings,
    EventKind,
    JudgeSink,
    LevelEvent,
    LevelResult,
    LevelRunner,
    LevelSpec,
    LocalTools,
    MemorySink,
)
from agentperf.loadgen.selfcheck import SelfCheck, SelfCheckLimits, combine, histogram_quantile, judge_check
from agentperf.runtime.server import channel


def test_thresholds_name_every_failed_check() -> None:
    limits = SelfCheckLimits(max_lag_p99_s=0.05, max_cpu=0.9, min_active=0.95)
    healthy = judge_check(
        SelfCheck(agents=10, lag_p99_s=0.01, cpu_fraction=0.5, active_mean=10, samples=5), limits
    )
    assert healthy.valid and healthy.invalid_reason == ""
    bad = judge_check(
        SelfCheck(agents=10, lag_p99_s=0.2, cpu_fraction=0.95, active_mean=9, samples=5), limits
    )
    assert not bad.valid
    assert "lag p99 200.0 ms > 50 ms" in bad.invalid_reason
    assert "CPU 95% of a core > 90%" in bad.invalid_reason
    assert "9.0 of 10 agents in flight" in bad.invalid_reason
    # nothing sampled yet (window not open): no verdict on agents in flight
    assert judge_check(SelfCheck(agents=10, active_mean=0, samples=0), limits).valid


def test_combined_check_is_the_worst_worker_and_names_it() -> None:
    good = SelfCheck(agents=3, lag_p99_s=0.001, cpu_fraction=0.2, cpu_s=1.0, active_mean=3, samples=9)
    bad = SelfCheck(
        agents=2,
        lag_p99_s=0.08,
        cpu_fraction=0.97,
        cpu_s=2.0,
        active_mean=2,
        samples=7,
        valid=False,
        invalid_reason="CPU 97% of a core > 90%",
    )
    both = combine([good, bad])
    assert both.workers == 2 and both.agents == 5 and both.active_mean == 5
    assert both.lag_p99_s == 0.08 and both.cpu_fraction == 0.97 and both.cpu_s == 3.0
    assert not both.valid and both.invalid_reason == "worker 1: CPU 97% of a core > 90%"
    assert combine([good, good]).valid


def test_histogram_quantile() -> None:
    bins = {1: 98, 5: 1, 400: 1}  # 0.1 ms bins
    assert histogram_quantile(bins, 0.99) == pytest.approx(0.0005)
    assert histogram_quantile(bins, 1.0) == pytest.approx(0.04)
    assert histogram_quantile({}, 0.99) == 0.0


async def _level(
    llm: Any,
    make_trajectory: Any,
    limits: SelfCheckLimits,
    *,
    on_event: Callable[[LevelEvent], None] = lambda e: None,
    sink: Any = None,
    **spec: Any,
) -> tuple[LevelResult, list[LevelEvent]]:
    llm.set(first_token_delay_s=0.01, token_interval_s=0.005)
    spec.setdefault("window_s", 0.6)
    runner = LevelRunner(
        LevelSpec("sc", spec.pop("level", 3), progress_interval_s=0.1, **spec),
        [make_trajectory("t", [[(3, 6, True), (2, 6, False)] * 4])],
        ClientSettings(llm.url, "m"),
        LocalTools(scale=1.0),
        sink or MemorySink(),
        limits=limits,
    )
    events: list[LevelEvent] = []

    def emit(event: LevelEvent) -> None:
        events.append(event)
        on_event(event)

    result = await asyncio.wait_for(runner.run(emit), 30)
    return result, events


async def test_healthy_client_stays_valid(llm: Any, make_trajectory: Any) -> None:
    # Default thresholds, except lag: this process also runs the fake server, on a shared 2-core box.
    result, events = await _level(llm, make_trajectory, SelfCheckLimits(max_lag_p99_s=0.2))
    check = result.counters.check
    assert check.valid, check.invalid_reason
    assert check.samples >= 8 and 0 < check.cpu_fraction < 0.9
    assert check.active_mean == 3 and check.active_min == 3  # in a request or a tool gap, always
    assert events[-1].kind is EventKind.DONE and events[-1].counters.check.valid


async def test_hogged_event_loop_marks_the_level_invalid(llm: Any, make_trajectory: Any) -> None:
    loop = asyncio.get_running_loop()
    hogs: list[asyncio.Handle] = []

    def hog() -> None:
        # A CPU-bound callback on the client's loop, as an overloaded client would have.
        end = time.perf_counter() + 0.12
        while time.perf_counter() < end:
            pass
        hogs.append(loop.call_later(0.01, hog))

    def start_hogging(event: LevelEvent) -> None:
        if event.kind is EventKind.WINDOW_OPEN:
            hogs.append(loop.call_soon(hog))
        elif event.kind is EventKind.WINDOW_CLOSED:
            for handle in hogs:
                handle.cancel()

    result, _ = await _level(llm, make_trajectory, SelfCheckLimits(), on_event=start_hogging)
    check = result.counters.check
    assert not check.valid
    assert "event-loop lag p99" in check.invalid_reason
    assert check.lag_p99_s > 0.05 and check.lag_window_max_s >= check.lag_p99_s


async def test_cpu_over_the_threshold_marks_the_level_invalid(llm: Any, make_trajectory: Any) -> None:
    result, _ = await _level(llm, make_trajectory, SelfCheckLimits(max_lag_p99_s=1.0, max_cpu=1e-6))
    check = result.counters.check
    assert not check.valid and "CPU" in check.invalid_reason and "lag" not in check.invalid_reason


async def test_agents_not_in_flight_mark_the_level_invalid(llm: Any, make_trajectory: Any) -> None:
    # A stagger far longer than the warm-up limit: the window opens with half the agents unstarted.
    result, _ = await _level(
        llm,
        make_trajectory,
        SelfCheckLimits(max_lag_p99_s=1.0),
        level=4,
        stagger_s=8.0,
        warmup_timeout_s=0.3,
        window_s=0.4,
    )
    check = result.counters.check
    assert not check.valid and "agents in flight on average" in check.invalid_reason
    assert check.active_min == 1 and check.active_mean < 2.5


async def test_judge_backpressure_holds_agents_and_bounds_the_backlog(
    llm: Any, peers: Any, make_trajectory: Any, free_tcp_port: Any
) -> None:
    # The judge is down until 0.3 s into the window: the backlog hits its bound and agents
    # wait (after their request ended); once the judge is up every record arrives once.
    port = free_tcp_port()
    loop = asyncio.get_running_loop()
    started: list[asyncio.Future[str]] = []

    def start_judge_on_open(event: LevelEvent) -> None:
        if event.kind is EventKind.WINDOW_OPEN:
            loop.call_later(0.3, lambda: started.append(asyncio.ensure_future(peers.start_judge(port))))

    async with channel(f"127.0.0.1:{port}") as ch:
        sink = JudgeSink(ch, retries=200, backoff_s=0.02, max_backoff_s=0.05, batch_size=3, max_backlog=4)
        result, _ = await _level(
            llm,
            make_trajectory,
            SelfCheckLimits(max_lag_p99_s=1.0),
            on_event=start_judge_on_open,
            sink=sink,
            warmup_timeout_s=0.5,
        )
    check = result.counters.check
    assert started and check.sink_waits > 0 and sink.waits == check.sink_waits
    assert not check.valid and "agents in flight" in check.invalid_reason  # they waited on the client
    assert sink.backlog_peak <= 4 + 3  # the bound, plus one record per agent that had not yet waited
    assert result.delivery.error == "" and result.delivery.delivered == result.counters.requests_sent
    assert len(peers.judge.records) == result.counters.requests_sent
