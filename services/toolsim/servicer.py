"""gRPC face of toolsim: protobuf in, a draw from the pure model, an awaited delay, protobuf out."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
from prometheus_client import Counter, Gauge, Histogram

from agentperf.runtime.grpc_errors import grpc_method
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.services.toolsim.core import DelayModel
from agentperf.v1 import toolsim_pb2, toolsim_pb2_grpc

_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
CALLS = Counter("agentperf_toolsim_calls", "Tool calls simulated, by tool class.", ["tool_class"])
DELAY = Histogram(
    "agentperf_toolsim_delay_seconds",
    "Delay waited per tool call (after time_scale), by tool class.",
    ["tool_class"],
    buckets=_DELAY_BUCKETS,
)
QUEUED = Histogram(
    "agentperf_toolsim_queue_seconds",
    "Time a call waited for a slot under max_concurrent.",
    buckets=(0, *_DELAY_BUCKETS),
)
IN_FLIGHT = Gauge("agentperf_toolsim_in_flight", "Tool calls currently waiting out their delay.")


class ToolSimServicer(toolsim_pb2_grpc.ToolSimServicer):
    """Implements agentperf.v1.ToolSim; never executes anything from the request."""

    def __init__(self, config: ToolSimConfig) -> None:
        self._config = config
        self._model = DelayModel(config)
        self._slots = asyncio.Semaphore(config.max_concurrent) if config.max_concurrent > 0 else None

    @grpc_method
    async def RunTool(  # noqa: N802 -- gRPC method name
        self, request: toolsim_pb2.RunToolRequest, context: grpc.aio.ServicerContext
    ) -> toolsim_pb2.RunToolResponse:
        draw = self._model.draw(request.key, request.tool.tool_class, request.tool.recorded_duration_s)
        async with self._slot() as queued_s:
            IN_FLIGHT.inc()
            try:
                await asyncio.sleep(draw.wait_s)
            finally:
                IN_FLIGHT.dec()
        CALLS.labels(draw.tool_class).inc()
        DELAY.labels(draw.tool_class).observe(draw.wait_s)
        QUEUED.observe(queued_s)
        return toolsim_pb2.RunToolResponse(
            delay_s=draw.wait_s,
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


class ToolSimService:
    """The toolsim service object for :func:`agentperf.runtime.server.service_main`."""

    def __init__(self, config: ToolSimConfig) -> None:
        self.config = config
        self.servicer = ToolSimServicer(config)

    def register(self, server: grpc.aio.Server) -> list[str]:
        toolsim_pb2_grpc.add_ToolSimServicer_to_server(self.servicer, server)
        return [toolsim_pb2.DESCRIPTOR.services_by_name["ToolSim"].full_name]

    async def start(self) -> None:
        """Nothing to acquire: the model is pure and the semaphore exists already."""

    async def stop(self) -> None:
        """Nothing to release: an interrupted delay has no side effects."""
