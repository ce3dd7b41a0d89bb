"""toolsim over in-process gRPC: the delay is awaited, and max_concurrent queues excess calls."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from agentperf.runtime.server import in_process
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.services.toolsim.servicer import ToolSimService
from agentperf.v1 import common_pb2, toolsim_pb2, toolsim_pb2_grpc

STEP_S = 0.05  # every delay: median 1 s, sigma 0, time_scale 0.05


async def serve(config: ToolSimConfig) -> AsyncIterator[toolsim_pb2_grpc.ToolSimStub]:
    async with in_process(ToolSimService(config)) as ch:
        yield toolsim_pb2_grpc.ToolSimStub(ch)


@pytest.fixture
async def limited() -> AsyncIterator[toolsim_pb2_grpc.ToolSimStub]:
    async for stub in serve(ToolSimConfig(sigma=0.0, time_scale=STEP_S, max_concurrent=2)):
        yield stub


@pytest.fixture
async def unlimited() -> AsyncIterator[toolsim_pb2_grpc.ToolSimStub]:
    async for stub in serve(ToolSimConfig(sigma=0.0, time_scale=STEP_S)):
        yield stub


def call(key: str, tool_class: str = "shell") -> toolsim_pb2.RunToolRequest:
    return toolsim_pb2.RunToolRequest(key=key, tool=common_pb2.ToolCall(name="bash", tool_class=tool_class))


async def test_run_tool_waits_the_scaled_delay(unlimited: toolsim_pb2_grpc.ToolSimStub) -> None:
    start = time.monotonic()
    response = await unlimited.RunTool(call("k"))
    assert time.monotonic() - start >= STEP_S
    assert response.delay_s == pytest.approx(STEP_S)
    assert response.modelled_delay_s == pytest.approx(1.0)
    assert (response.time_scale, response.tool_class, response.model) == (
        STEP_S,
        "shell",
        "lognormal(median=1.0s,sigma=0.0)",
    )


async def test_max_concurrent_queues_excess_calls(limited: toolsim_pb2_grpc.ToolSimStub) -> None:
    start = time.monotonic()
    responses = await asyncio.gather(*(limited.RunTool(call(f"k{i}")) for i in range(6)))
    elapsed = time.monotonic() - start
    # Two slots, six calls of one step each: at least three steps, and four calls had to queue.
    assert elapsed >= 3 * STEP_S
    queued = sorted(r.queued_s for r in responses)
    assert queued[1] < 0.5 * STEP_S  # a free slot is taken without waiting
    assert queued[2] >= 0.8 * STEP_S  # the next two waited for one call to finish
    assert queued[4] >= 1.8 * STEP_S  # the last two for two


async def test_unlimited_calls_never_queue(unlimited: toolsim_pb2_grpc.ToolSimStub) -> None:
    responses = await asyncio.gather(*(unlimited.RunTool(call(f"k{i}")) for i in range(6)))
    assert [r.queued_s for r in responses] == [0.0] * 6


async def test_bad_requests_are_invalid_argument(unlimited: toolsim_pb2_grpc.ToolSimStub) -> None:
    for request in (call(""), call("k", "network")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unlimited.RunTool(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await unlimited.RunTool(call("k"))).delay_s > 0


async def test_fit_needs_a_reachable_store_and_leaves_the_model_alone() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    async for stub in serve(ToolSimConfig(model="fitted", trajectory_store=closed)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.FitFromDataset(toolsim_pb2.FitRequest(dataset="d"), timeout=20)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"trajectory-store at {closed}" in (info.value.details() or "")
        report = await stub.DescribeModel(toolsim_pb2.DescribeModelRequest())
        assert report.dataset == "" and {c.distribution for c in report.classes} == {
            "lognormal(median=1.0s,sigma=0.8)"
        }
        assert report.summary.startswith("tool model: all classes=lognormal(median=1.0s,sigma=0.8) p50=1s")
