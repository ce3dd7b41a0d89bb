"""gRPC face of toolsim: protobuf in, a draw from the pure model, an awaited delay or a pooled CPU task.

A cpu call holds one slot of the CPU pool from the moment it is admitted until its task has
finished in a worker process, even when its caller went away meanwhile, so the pool never
has more tasks than workers and the queue time measured here is all the queueing there is.
Workers are spawned (not forked: the server runs gRPC threads) and build the catalogue's
corpus on start, before the service reports ready.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool

import grpc
from prometheus_client import Counter, Gauge, Histogram

from agentperf.errors import InputError, UnavailableError
from agentperf.runtime.grpc_errors import error_from_rpc, grpc_method
from agentperf.runtime.server import channel
from agentperf.services.toolsim import catalogue
from agentperf.services.toolsim.calibrate import host_cpu_model, load_calibration
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.services.toolsim.core import DelayDraw, ModelReport, ToolModel
from agentperf.services.toolsim.fit import DurationCollector, ToolFit
from agentperf.v1 import toolsim_pb2, toolsim_pb2_grpc, trajectory_store_pb2, trajectory_store_pb2_grpc

log = logging.getLogger(__name__)

_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
CALLS = Counter("agentperf_toolsim_calls", "Tool calls simulated, by tool class.", ["tool_class"])
DELAY = Histogram(
    "agentperf_toolsim_delay_seconds",
    "Time a tool call took (waited delay, or measured cpu task), by tool class.",
    ["tool_class"],
    buckets=_DELAY_BUCKETS,
)
QUEUED = Histogram(
    "agentperf_toolsim_queue_seconds",
    "Time a call waited for a slot under max_concurrent or in the cpu pool.",
    buckets=(0, *_DELAY_BUCKETS),
)
IN_FLIGHT = Gauge("agentperf_toolsim_in_flight", "Tool calls currently waiting out their delay or running.")
CPU_TASK = Histogram(
    "agentperf_toolsim_cpu_task_seconds",
    "Wall time of catalogue tasks measured in the worker, by task.",
    ["task"],
    buckets=_DELAY_BUCKETS,
)
FITS = Counter("agentperf_toolsim_fits", "FitFromDataset calls, by outcome.", ["outcome"])


class CpuPool:
    """A process pool for catalogue tasks with one asyncio slot per worker (FIFO queue, timed)."""

    def __init__(self, workers: int, slots: asyncio.Semaphore | None = None) -> None:
        self.workers = workers
        # With max_concurrent set, delay calls and cpu tasks share one limit (slots given).
        self._slots = slots if slots is not None else asyncio.Semaphore(workers)
        self._executor = self._new_executor()

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=catalogue.warm
        )

    async def start(self) -> None:
        """Start every worker now (each builds the corpus), so the first calls do not pay for it."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._executor, catalogue.run_task, "shell", 0)
                for _ in range(self.workers)
            )
        )

    async def run(self, task: str, work: int) -> tuple[float, catalogue.TaskResult]:
        """Queue for a worker, run the task there; returns (seconds queued, result)."""
        start = time.monotonic()
        await self._slots.acquire()
        queued_s = time.monotonic() - start
        executor = self._executor
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, catalogue.run_task, task, work)
        except BrokenProcessPool as exc:
            self._slots.release()
            raise self._restart(executor) from exc
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return queued_s, await asyncio.shield(future)
        except BrokenProcessPool as exc:
            raise self._restart(executor) from exc

    def _restart(self, broken: concurrent.futures.ProcessPoolExecutor) -> UnavailableError:
        """A worker died (killed from outside): the first call to notice starts a fresh pool."""
        if self._executor is broken:
            log.warning("cpu pool lost a worker; starting a fresh pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return UnavailableError("toolsim cpu pool lost a worker; it was restarted, retry the call")

    async def stop(self) -> None:
        """Cancel queued tasks and end the workers without waiting out tasks still running."""
        executor = self._executor
        # The executor offers no way to end a running task; its worker processes are reachable.
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        await asyncio.to_thread(_join_all, processes)


def _join_all(processes: list[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        process.join(5)


class ToolSimServicer(toolsim_pb2_grpc.ToolSimServicer):
    """Implements agentperf.v1.ToolSim; never executes anything from the request."""

    def __init__(self, config: ToolSimConfig) -> None:
        self._config = config
        calibration = load_calibration(config.calibration) if config.uses_cpu() else None
        self._model = ToolModel(config, calibration=calibration)
        self._slots = asyncio.Semaphore(config.max_concurrent) if config.max_concurrent > 0 else None
        self._host_cpu = host_cpu_model() if config.uses_cpu() else ""
        self.pool: CpuPool | None = None

    def shared_slots(self) -> asyncio.Semaphore | None:
        return self._slots

    def pool_size(self) -> int:
        return self._config.max_concurrent or os.cpu_count() or 1

    @grpc_method
    async def RunTool(  # noqa: N802 -- gRPC method name
        self, request: toolsim_pb2.RunToolRequest, context: grpc.aio.ServicerContext
    ) -> toolsim_pb2.RunToolResponse:
        draw = self._model.draw(request.key, request.tool.tool_class, request.tool.recorded_duration_s)
        IN_FLIGHT.inc()
        try:
            if draw.cpu_task:
                response = await self._run_cpu(draw)
            else:
                response = await self._wait(draw)
        finally:
            IN_FLIGHT.dec()
        CALLS.labels(draw.tool_class).inc()
        DELAY.labels(draw.tool_class).observe(response.delay_s)
        QUEUED.observe(response.queued_s)
        return response

    async def _wait(self, draw: DelayDraw) -> toolsim_pb2.RunToolResponse:
        async with self._slot() as queued_s:
            await asyncio.sleep(draw.wait_s)
        return self._response(draw, draw.wait_s, queued_s)

    async def _run_cpu(self, draw: DelayDraw) -> toolsim_pb2.RunToolResponse:
        assert self.pool is not None, "the service starts the pool when a class uses the cpu model"
        start = time.monotonic()
        queued_s, result = await self.pool.run(draw.cpu_task, draw.work_units)
        CPU_TASK.labels(draw.cpu_task).observe(result.wall_s)
        response = self._response(draw, time.monotonic() - start - queued_s, queued_s)
        response.cpu_task = draw.cpu_task
        response.cpu_work_units = draw.work_units
        response.cpu_target_s = draw.target_s
        response.cpu_measured_s = result.wall_s
        return response

    def _response(self, draw: DelayDraw, took_s: float, queued_s: float) -> toolsim_pb2.RunToolResponse:
        return toolsim_pb2.RunToolResponse(
            delay_s=took_s,
            model=draw.model,
            modelled_delay_s=draw.modelled_s,
            time_scale=self._config.time_scale,
            queued_s=queued_s,
            tool_class=draw.tool_class,
            capped=draw.capped,
        )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[float]:
        """Hold one of max_concurrent slots (if limited); yields the seconds spent queueing."""
        if self._slots is None:
            yield 0.0
            return
        start = time.monotonic()
        async with self._slots:
            yield time.monotonic() - start

    @grpc_method
    async def FitFromDataset(  # noqa: N802 -- gRPC method name
        self, request: toolsim_pb2.FitRequest, context: grpc.aio.ServicerContext
    ) -> toolsim_pb2.ToolModelReport:
        if not request.dataset:
            raise InputError(
                "must name a dataset of the trajectory store", source="FitRequest", field="dataset"
            )
        try:
            fit = await self._fetch_fit(request.dataset)
        except Exception:
            FITS.labels("failed").inc()
            raise
        self._model = self._model.with_fit(fit)
        FITS.labels("installed").inc()
        report = self.report()
        log.info("installed tool fit of dataset %r: %s", request.dataset, report.summary)
        return report_to_proto(report)

    async def _fetch_fit(self, dataset: str) -> ToolFit:
        """Stream ``dataset`` from the store, keeping only (class, duration) pairs in memory."""
        collector = DurationCollector(dataset)
        request = trajectory_store_pb2.StreamTrajectoriesRequest(dataset=dataset)
        async with channel(self._config.trajectory_store) as ch:
            stub = trajectory_store_pb2_grpc.TrajectoryStoreStub(ch)
            try:
                async for trajectory in stub.StreamTrajectories(request):
                    collector.trajectories += 1
                    for p, phase in enumerate(trajectory.phases):
                        for t, turn in enumerate(phase.turns):
                            if turn.has_tool:
                                where = f"trajectory {trajectory.id!r} phases[{p}].turns[{t}].tool"
                                collector.add(turn.tool.tool_class, turn.tool.recorded_duration_s, where)
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc, f"trajectory-store at {self._config.trajectory_store}") from exc
        return collector.fit(self._config.min_fit_samples)

    @grpc_method
    async def DescribeModel(  # noqa: N802 -- gRPC method name
        self, request: toolsim_pb2.DescribeModelRequest, context: grpc.aio.ServicerContext
    ) -> toolsim_pb2.ToolModelReport:
        return report_to_proto(self.report())

    def report(self) -> ModelReport:
        return self._model.report(self.pool.workers if self.pool is not None else 0, self._host_cpu)


def report_to_proto(report: ModelReport) -> toolsim_pb2.ToolModelReport:
    return toolsim_pb2.ToolModelReport(
        classes=[
            toolsim_pb2.ToolClassModel(
                tool_class=c.tool_class,
                model=c.model,
                distribution=c.distribution,
                fit_source=c.fit_source,
                samples=c.samples,
                class_samples=c.class_samples,
                p50_s=c.p50_s,
                p90_s=c.p90_s,
                lognormal_mu=c.lognormal_mu,
                lognormal_sigma=c.lognormal_sigma,
                dataset=c.dataset,
                cpu_task=c.cpu_task,
            )
            for c in report.classes
        ],
        dataset=report.dataset,
        recorded_durations=report.recorded_durations,
        tool_calls=report.tool_calls,
        trajectories=report.trajectories,
        min_fit_samples=report.min_fit_samples,
        max_delay_s=report.max_delay_s,
        time_scale=report.time_scale,
        max_concurrent=report.max_concurrent,
        cpu_pool=report.cpu_pool,
        calibration_cpu=report.calibration_cpu,
        host_cpu=report.host_cpu,
        seed=report.seed,
        summary=report.summary,
    )


class ToolSimService:
    """The toolsim service object for :func:`agentperf.runtime.server.service_main`."""

    def __init__(self, config: ToolSimConfig) -> None:
        self.config = config
        self.servicer = ToolSimServicer(config)

    def register(self, server: grpc.aio.Server) -> list[str]:
        toolsim_pb2_grpc.add_ToolSimServicer_to_server(self.servicer, server)
        return [toolsim_pb2.DESCRIPTOR.services_by_name["ToolSim"].full_name]

    async def start(self) -> None:
        """Start the cpu task pool when a class uses the cpu model (workers ready before serving)."""
        if self.config.uses_cpu():
            pool = CpuPool(self.servicer.pool_size(), self.servicer.shared_slots())
            await pool.start()
            self.servicer.pool = pool
            log.info("cpu pool of %d workers ready; %s", pool.workers, self.servicer.report().summary)

    async def stop(self) -> None:
        """End the cpu pool's workers; an interrupted delay or task has no side effects."""
        if self.servicer.pool is not None:
            await self.servicer.pool.stop()
            self.servicer.pool = None
