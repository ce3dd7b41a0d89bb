"""gRPC face of the loadgen: RunLevel streams a level's events, GetStats sums a run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
from prometheus_client import Counter, Gauge

from agentperf.errors import InputError, NotFoundError, UnavailableError
from agentperf.loadgen import (
    ClientSettings,
    Counters,
    EventKind,
    JudgeSink,
    LevelEvent,
    LevelResult,
    LevelRunner,
    LevelSpec,
    ToolSimTools,
)
from agentperf.loadgen.selfcheck import SelfCheckLimits
from agentperf.loadgen.workers import PeerSettings, PoolRunner, resolve_workers
from agentperf.runtime.grpc_errors import error_from_rpc, grpc_method
from agentperf.runtime.server import channel
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.loadgen.core import LevelGate, RunBook
from agentperf.trajectory import Trajectory, from_proto
from agentperf.v1 import loadgen_pb2, loadgen_pb2_grpc, trajectory_store_pb2, trajectory_store_pb2_grpc

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "agentperf_loadgen_requests",
    "Requests finished (records produced), by status and failure class.",
    ["status", "failure_class"],
)
AGENTS_IN_FLIGHT = Gauge("agentperf_loadgen_agents_in_flight", "Agents with a request open right now.")
RECORDS_DELIVERED = Counter("agentperf_loadgen_records_delivered", "Records the judge acknowledged.")
LOOP_LAG_P99 = Gauge(
    "agentperf_loadgen_loop_lag_p99_seconds",
    "Worst worker's p99 event-loop lag within the current (or last) window.",
)
CPU_FRACTION = Gauge(
    "agentperf_loadgen_worker_cpu_ratio",
    "Worst worker's CPU time / wall time within the current (or last) window (1 = one core).",
)
LEVEL_VALID = Gauge(
    "agentperf_loadgen_level_valid",
    "1 while the current (or last) level passes the client self-check, 0 when the client is the bottleneck.",
)

# LevelRunner runs a level in this process; PoolRunner across worker processes. Same face.
Runner = LevelRunner | PoolRunner


class _MetricsFeed:
    """Moves a level's counters into the Prometheus metrics by deltas, off the hot path."""

    def __init__(self) -> None:
        self._last = Counters()

    def update(self, now: Counters) -> None:
        last = self._last
        REQUESTS.labels("ok", "").inc(now.ok - last.ok)
        REQUESTS.labels("censored", "").inc(now.censored - last.censored)
        for name, count in now.failures_by_class.items():
            REQUESTS.labels("failed", name).inc(count - last.failures_by_class.get(name, 0))
        RECORDS_DELIVERED.inc(now.records_delivered - last.records_delivered)
        LOOP_LAG_P99.set(now.check.lag_p99_s)
        CPU_FRACTION.set(now.check.cpu_fraction)
        LEVEL_VALID.set(1 if now.check.valid else 0)
        self._last = now


_KINDS = {
    EventKind.STARTED: loadgen_pb2.LEVEL_EVENT_KIND_STARTED,
    EventKind.WINDOW_OPEN: loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_OPEN,
    EventKind.PROGRESS: loadgen_pb2.LEVEL_EVENT_KIND_PROGRESS,
    EventKind.WINDOW_CLOSED: loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_CLOSED,
    EventKind.DONE: loadgen_pb2.LEVEL_EVENT_KIND_DONE,
    EventKind.WINDOW_HOLD: loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_HOLD,
}


def event_to_proto(event: LevelEvent) -> loadgen_pb2.LevelEvent:
    c, check = event.counters, event.counters.check
    return loadgen_pb2.LevelEvent(
        kind=_KINDS[event.kind],
        elapsed_s=event.elapsed_s,
        agents_in_flight=c.agents_in_flight,
        requests_sent=c.requests_sent,
        requests_done=c.requests_done,
        records_delivered=c.records_delivered,
        failed=c.failed,
        message=event.message,
        censored=c.censored,
        records_written=c.records_written,
        window_requests=c.window_requests,
        loop_lag_max_s=c.loop_lag_max_s,
        agents=c.agents,
        failures_by_class=c.failures_by_class,
        window_s=event.window_s,
        tool_errors=c.tool_errors,
        valid=check.valid,
        invalid_reason=check.invalid_reason,
        loop_lag_p99_s=check.lag_p99_s,
        loop_lag_window_max_s=check.lag_window_max_s,
        cpu_fraction=check.cpu_fraction,
        agents_active_mean=check.active_mean,
        agents_active_min=check.active_min,
        workers=check.workers,
        sink_waits=check.sink_waits,
        rss_peak_bytes=check.rss_peak_bytes,
        cpu_s=check.cpu_s,
        prompt_token_samples=c.prompt.samples,
        prompt_token_error_mean=c.prompt.error_mean,
        prompt_token_error_max=c.prompt.error_max,
        prompt_words_per_token=c.prompt.words_per_token,
    )


def spec_from_request(request: loadgen_pb2.RunLevelRequest, config: LoadGenConfig) -> LevelSpec:
    if not request.dataset:
        raise InputError("must name a dataset", source="RunLevelRequest", field="dataset")
    spec = LevelSpec(
        run_id=request.run_id,
        level=request.level,
        window_s=request.window_s,
        warmup_timeout_s=request.warmup_timeout_s,
        min_window_requests=request.min_window_requests,
        max_window_s=request.max_window_s,
        hold_s=request.hold_s,
        start_random=request.agent_start == loadgen_pb2.AGENT_START_RANDOM_TURN,
        seed=request.seed or config.seed,
        shard_index=request.shard_index,
        shard_count=max(1, request.shard_count),
        stagger_s=config.stagger_s,
        progress_interval_s=config.progress_interval_s,
    )
    spec.validate()
    return spec


def peer_settings(config: LoadGenConfig) -> PeerSettings:
    """Where worker processes send tool calls and records, and how."""
    return PeerSettings(
        toolsim=config.toolsim,
        judge=config.judge,
        tool_fallback_s=config.tool_fallback_s,
        judge_retries=config.judge_retries,
        judge_backoff_s=config.judge_backoff_s,
        judge_batch_size=config.judge_batch_size,
        judge_batch_max_s=config.judge_batch_max_s,
        judge_max_backlog=config.judge_max_backlog,
    )


class LoadGenServicer(loadgen_pb2_grpc.LoadGeneratorServicer):
    """Implements agentperf.v1.LoadGenerator."""

    def __init__(self, config: LoadGenConfig, api_key: str) -> None:
        self._config = config
        self._settings = ClientSettings(
            target_url=config.target_url,
            model=config.model,
            engine_profile=config.engine_profile,
            api_key=api_key,
            connect_timeout_s=config.connect_timeout_s,
            first_token_timeout_s=config.first_token_timeout_s,
            idle_timeout_s=config.idle_timeout_s,
        )
        self._limits = SelfCheckLimits(
            tick_s=config.selfcheck_tick_s,
            max_lag_p99_s=config.selfcheck_max_lag_p99_s,
            max_cpu=config.selfcheck_max_cpu,
            min_active=config.selfcheck_min_active,
        )
        self._gate = LevelGate()
        self._book = RunBook()
        self._cache: tuple[tuple[str, str, int, int], list[Trajectory]] | None = None
        self._store: grpc.aio.Channel | None = None
        self._toolsim: grpc.aio.Channel | None = None
        self._judge: grpc.aio.Channel | None = None
        self.current: tuple[Runner, asyncio.Task[LevelResult]] | None = None

    def open_channels(self) -> None:
        self._store = channel(self._config.trajectory_store)
        self._toolsim = channel(self._config.toolsim)
        self._judge = channel(self._config.judge)

    async def close_channels(self) -> None:
        for ch in (self._store, self._toolsim, self._judge):
            if ch is not None:
                await ch.close()

    @grpc_method
    async def RunLevel(  # noqa: N802 -- gRPC method name
        self, request: loadgen_pb2.RunLevelRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[loadgen_pb2.LevelEvent]:
        spec = spec_from_request(request, self._config)
        self._gate.acquire(f"run {spec.run_id!r} level {spec.level}")
        try:
            trajectories = await self._trajectories(request.dataset, spec)
            async for event in self._drive(self._runner(spec, trajectories)):
                yield event
        finally:
            self._gate.release()

    @grpc_method
    async def GetStats(  # noqa: N802 -- gRPC method name
        self, request: loadgen_pb2.GetStatsRequest, context: grpc.aio.ServicerContext
    ) -> loadgen_pb2.LoadStats:
        t = self._book.totals(request.run_id)
        return loadgen_pb2.LoadStats(
            requests_sent=t.requests_sent,
            records_delivered=t.records_delivered,
            failed=t.failed,
            censored=t.censored,
            levels=t.levels,
        )

    @grpc_method
    async def StopLevel(  # noqa: N802 -- gRPC method name
        self, request: loadgen_pb2.StopLevelRequest, context: grpc.aio.ServicerContext
    ) -> loadgen_pb2.StopLevelResponse:
        if not request.run_id.strip():
            raise InputError("must not be empty", source="StopLevelRequest", field="run_id")
        current = self.current
        if (
            current is None
            or current[0].spec.run_id != request.run_id
            or current[0].spec.level != request.level
        ):
            return loadgen_pb2.StopLevelResponse(stopped=False)
        current[0].request_stop(request.reason or "stopped by the caller")
        return loadgen_pb2.StopLevelResponse(stopped=True)

    def _runner(self, spec: LevelSpec, trajectories: list[Trajectory]) -> Runner:
        """In this process with one worker; across worker processes (their own channels) with more."""
        config = self._config
        workers = resolve_workers(config.workers)
        if workers > 1:
            peers = peer_settings(config)
            return PoolRunner(
                spec,
                trajectories,
                self._settings,
                peers,
                workers=workers,
                limits=self._limits,
                use_uvloop=config.uvloop,
                prompts=config.prompt_settings(),
            )
        return LevelRunner(
            spec,
            trajectories,
            self._settings,
            *self._peers(),
            limits=self._limits,
            prompts=config.prompt_settings(),
        )

    def _peers(self) -> tuple[ToolSimTools, JudgeSink]:
        assert self._toolsim is not None and self._judge is not None, "channels not open"
        config = self._config
        tools = ToolSimTools(self._toolsim, fallback_s=config.tool_fallback_s)
        sink = JudgeSink(
            self._judge,
            retries=config.judge_retries,
            backoff_s=config.judge_backoff_s,
            batch_size=config.judge_batch_size,
            batch_max_s=config.judge_batch_max_s,
            max_backlog=config.judge_max_backlog,
        )
        return tools, sink

    async def _drive(self, runner: Runner) -> AsyncIterator[loadgen_pb2.LevelEvent]:
        events: asyncio.Queue[LevelEvent] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(runner.run(events.put_nowait))
        self.current = (runner, task)
        feed = _MetricsFeed()
        AGENTS_IN_FLIGHT.set_function(lambda: runner.counters().agents_in_flight)
        try:
            while True:
                event = await events.get()
                feed.update(event.counters)
                if event.kind is EventKind.DONE and event.delivery_error:
                    c = event.counters
                    raise UnavailableError(
                        f"run {runner.spec.run_id!r} level {runner.spec.level}: {c.requests_sent} requests sent, "
                        f"{c.records_delivered} records acknowledged by the judge: {event.delivery_error}"
                    )
                yield event_to_proto(event)
                if event.kind is EventKind.DONE:
                    break
        finally:
            await self._finish(runner, task)
            AGENTS_IN_FLIGHT.set_function(lambda: 0)

    async def _finish(self, runner: Runner, task: asyncio.Task[LevelResult]) -> None:
        """Wait for the level to end (stopping it if the caller went away) and book its totals."""
        if not task.done():
            runner.request_stop("caller cancelled")
        try:
            result = await task
        except Exception:
            log.exception("run %s level %d ended with an error", runner.spec.run_id, runner.spec.level)
            return
        finally:
            self.current = None
        self._book.add(runner.spec.run_id, result)

    async def _trajectories(self, dataset: str, spec: LevelSpec) -> list[Trajectory]:
        # Held in memory for the run: a level must not wait on the store, and a run's levels
        # must replay the same trajectories.
        key = (spec.run_id, dataset, spec.shard_index, spec.shard_count)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        assert self._store is not None, "channels not open"
        stub = trajectory_store_pb2_grpc.TrajectoryStoreStub(self._store)
        request = trajectory_store_pb2.StreamTrajectoriesRequest(
            dataset=dataset, shard_index=spec.shard_index, shard_count=spec.shard_count
        )
        try:
            trajectories = [from_proto(msg) async for msg in stub.StreamTrajectories(request)]
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc, "trajectory-store") from exc
        if not trajectories:
            raise NotFoundError(
                f"dataset {dataset!r} has no trajectories in shard {spec.shard_index} of {spec.shard_count}"
            )
        self._cache = (key, trajectories)
        return trajectories


class LoadGenService:
    """The loadgen service object for :func:`agentperf.runtime.server.service_main`."""

    def __init__(self, config: LoadGenConfig) -> None:
        self.config = config
        self.servicer = LoadGenServicer(config, config.api_key())

    def register(self, server: grpc.aio.Server) -> list[str]:
        loadgen_pb2_grpc.add_LoadGeneratorServicer_to_server(self.servicer, server)
        return [loadgen_pb2.DESCRIPTOR.services_by_name["LoadGenerator"].full_name]

    async def start(self) -> None:
        """Open the client channels to the store, toolsim and the judge (they connect lazily)."""
        self.servicer.open_channels()

    async def stop(self) -> None:
        """Stop a running level (its records are still flushed to the judge), then close channels."""
        current = self.servicer.current
        if current is not None:
            runner, task = current
            runner.request_stop("loadgen shutting down")
            await asyncio.gather(task, return_exceptions=True)
        await self.servicer.close_channels()
